//go:build race

package venue

const raceBuild = true
