package admin

import "net/http"

// statusBody is the JSON shape of /healthz and /readyz.
type statusBody struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Detail names conditions that do not change the status (Config.HealthDetail).
	Detail map[string]string `json:"detail,omitempty"`
}

// serveHealthz answers liveness: is the engine working at all (workers alive, data flowing).
func (s *Server) serveHealthz(w http.ResponseWriter, r *http.Request) {
	ok, reason := true, ""
	if s.cfg.Healthy != nil {
		ok, reason = s.cfg.Healthy()
	}
	var detail map[string]string
	if s.cfg.HealthDetail != nil {
		detail = s.cfg.HealthDetail()
	}
	if !ok {
		s.writeJSON(w, r, http.StatusServiceUnavailable, statusBody{Status: "unhealthy", Reason: orUnknown(reason), Detail: detail})
		return
	}
	s.writeJSON(w, r, http.StatusOK, statusBody{Status: "ok", Detail: detail})
}

// serveReadyz answers readiness: should traffic be sent here. The server's own draining
// takes precedence over what the engine says, so a load balancer stops sending requests as
// soon as Stop begins.
func (s *Server) serveReadyz(w http.ResponseWriter, r *http.Request) {
	ok, reason := true, ""
	if s.draining.Load() {
		ok, reason = false, "admin server is shutting down"
	} else if s.cfg.Ready != nil {
		ok, reason = s.cfg.Ready()
	}
	if !ok {
		s.writeJSON(w, r, http.StatusServiceUnavailable, statusBody{Status: "not_ready", Reason: orUnknown(reason)})
		return
	}
	s.writeJSON(w, r, http.StatusOK, statusBody{Status: "ready"})
}

// orUnknown keeps a failing check from answering without any reason.
func orUnknown(reason string) string {
	if reason == "" {
		return "unknown"
	}
	return reason
}
