//go:build tools

// Package tools pins the VictoriaLogs command for `go build`.
package tools

import _ "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs"
