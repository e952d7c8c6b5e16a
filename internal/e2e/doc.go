// Package e2e holds the system tests: they build the real vai binary, run
// nodes as separate processes on loopback, put them under load and inject
// faults (SIGKILL mid-load, a validator stopped and restarted), then check
// that nothing acknowledged was lost and that every node's state is what a
// replay from genesis gives.
package e2e
