//go:build tools

// Package tools pins the Alertmanager command for `go build`.
package tools

import _ "github.com/prometheus/alertmanager/cmd/alertmanager"
