package node

import (
	"context"
	"fmt"
	"log/slog"

	cmtlog "github.com/cometbft/cometbft/libs/log"
)

// cometLogger sends CometBFT's logs to slog. CometBFT logs every block at
// info level; those stay below the default level.
type cometLogger struct{ l *slog.Logger }

var _ cmtlog.Logger = cometLogger{}

func (c cometLogger) Debug(msg string, kv ...any) { c.log(slog.LevelDebug, msg, kv) }
func (c cometLogger) Info(msg string, kv ...any)  { c.log(slog.LevelInfo, msg, kv) }
func (c cometLogger) Error(msg string, kv ...any) { c.log(slog.LevelError, msg, kv) }

func (c cometLogger) With(kv ...any) cmtlog.Logger { return cometLogger{c.l.With(attrs(kv)...)} }

// benign are CometBFT error messages that every clean shutdown logs.
var benign = map[string]bool{
	"Error serving server":                           true,
	"Stopped accept routine, as transport is closed": true,
}

func (c cometLogger) log(level slog.Level, msg string, kv []any) {
	if level == slog.LevelError && benign[msg] {
		level = slog.LevelDebug
	}
	if !c.l.Enabled(context.Background(), level) {
		return
	}
	c.l.Log(context.Background(), level, msg, attrs(kv)...)
}

// attrs turns CometBFT's key-value pairs into slog attributes, stringifying
// values whose String method does the work CometBFT's own logger would.
func attrs(kv []any) []any {
	out := make([]any, 0, len(kv))
	for i := 0; i+1 < len(kv); i += 2 {
		k := fmt.Sprint(kv[i])
		switch v := kv[i+1].(type) {
		case fmt.Stringer:
			out = append(out, slog.String(k, v.String()))
		case error:
			out = append(out, slog.String(k, v.Error()))
		default:
			out = append(out, slog.Any(k, v))
		}
	}
	return out
}
