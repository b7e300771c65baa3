package signaling

import "github.com/sanctuary-sfu/sanctuary/rooms"

// CmdTestPanic is a command that exists only in this package's test binary:
// its handler panics, so that tests can prove a panic is contained to the
// message and socket that caused it. Added once, before any test runs.
const CmdTestPanic = "test.panic"

func init() {
	commands[CmdTestPanic] = commandSpec{run: func(*Server, string, rooms.Actor, *Command) (uint64, error) {
		panic("a handler bug, provoked by a test")
	}}
}
