// Package fixed is the decimal number type polyfeed uses for every price, size,
// spread and tick size: an int64 count of millionths (Scale = 1e6).
//
// The venue sends all of these as decimal strings ("0.5", ".48", "3149725.72").
// Parsing them straight into scaled integers keeps books exact (no float
// rounding: 0.1+0.2 is 0.3 here) and allocation free. Six decimals cover every
// tick size Polymarket uses (down to 0.0001) and USDC's six-decimal sizes.
//
// Values are plain integers: safe to copy and share between goroutines.
package fixed

import (
	"errors"
	"math"
	"strconv"
)

// Scale is the number of Point units in 1.0.
const Scale = 1_000_000

// Decimals is the number of fractional digits a Point holds.
const Decimals = 6

// Point is a fixed-point decimal: the value times Scale.
type Point int64

// Max is the largest representable value (about 9.2e12).
const Max = Point(math.MaxInt64)

// Errors returned by Parse. Callers wrap them with the name of the field.
var (
	ErrEmpty     = errors.New("empty number")
	ErrSyntax    = errors.New("not a decimal number")
	ErrRange     = errors.New("number out of range")
	ErrPrecision = errors.New("more than 6 significant decimals")
)

// FromInt returns n as a Point (n units, not millionths).
func FromInt(n int64) Point { return Point(n * Scale) }

// Parse reads a decimal string such as "0.5", ".48", "-1", "3149725.72" or
// "1e-2" is NOT accepted: the venue never sends exponents and accepting them
// would hide garbage. Digits beyond the sixth decimal must be zeros; anything
// else is ErrPrecision rather than a silent rounding. It does not allocate.
func Parse(s []byte) (Point, error) { return parse(s) }

// ParseString is Parse for a string. It does not allocate.
func ParseString(s string) (Point, error) { return parse(s) }

// MustParse is ParseString that panics on error: for constants and tests.
func MustParse(s string) Point {
	p, err := ParseString(s)
	if err != nil {
		panic("fixed.MustParse(" + strconv.Quote(s) + "): " + err.Error())
	}
	return p
}

func parse[T ~string | ~[]byte](s T) (Point, error) {
	if len(s) == 0 {
		return 0, ErrEmpty
	}
	i := 0
	neg := false
	switch s[0] {
	case '-':
		neg = true
		i++
	case '+':
		i++
	}
	var v uint64
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		// Units must stay below Max/Scale before scaling.
		if v > (math.MaxInt64/Scale)/10 {
			return 0, ErrRange
		}
		v = v*10 + uint64(s[i]-'0')
		digits++
	}
	v *= Scale
	if v > math.MaxInt64 {
		return 0, ErrRange
	}
	frac := 0
	if i < len(s) && s[i] == '.' {
		i++
		mul := uint64(Scale / 10)
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			d := uint64(s[i] - '0')
			frac++
			if frac > Decimals {
				if d != 0 {
					return 0, ErrPrecision
				}
				continue
			}
			v += d * mul
			mul /= 10
		}
		if v > math.MaxInt64 {
			return 0, ErrRange
		}
	}
	if i != len(s) || digits+frac == 0 {
		return 0, ErrSyntax
	}
	if neg {
		return -Point(v), nil
	}
	return Point(v), nil
}

// AppendText appends the shortest decimal form of p ("0.5", "12", "-0.000001").
func (p Point) AppendText(dst []byte) []byte {
	u := uint64(p)
	if p < 0 {
		dst = append(dst, '-')
		u = uint64(-p) // correct for MinInt64 too, as uint64
	}
	dst = strconv.AppendUint(dst, u/Scale, 10)
	f := u % Scale
	if f == 0 {
		return dst
	}
	var buf [Decimals]byte
	for k := Decimals - 1; k >= 0; k-- {
		buf[k] = byte('0' + f%10)
		f /= 10
	}
	n := Decimals
	for n > 0 && buf[n-1] == '0' {
		n--
	}
	dst = append(dst, '.')
	return append(dst, buf[:n]...)
}

// String returns the shortest decimal form of p.
func (p Point) String() string { return string(p.AppendText(nil)) }

// MarshalText implements encoding.TextMarshaler, so JSON shows "0.5".
func (p Point) MarshalText() ([]byte, error) { return p.AppendText(nil), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Point) UnmarshalText(b []byte) error {
	v, err := Parse(b)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Float returns p as a float64, for display and metrics only.
func (p Point) Float() float64 { return float64(p) / Scale }
