// Package command is the small language people type into chat, SMS and
// e-mail to drive spotter. It turns text into a Command, or into an Error
// whose message is the reply to send back; it never guesses, so an unknown
// word is a helpful reply, never a launch. It is pure: no I/O, no policy.
//
// The language:
//
//	launch [N] [type…|preset] [in REGION] [for TTL] [code 123456]
//	status [in REGION] [code 123456]
//	terminate all|ID… [in REGION] [code 123456]
//	price [type…] [in REGION] [code 123456]
//	extend all|ID… to TTL [in REGION] [code 123456]
//	help
//
// Examples:
//
//	launch                          one instance of the token's default type
//	launch 2 t3.micro for 90m       two t3.micro that end after 90 minutes
//	launch gpu code 123456          the token's "gpu" preset, with an MFA code
//	launch 3 x c5.large in eu-west-1 for 2 hours
//	status
//	terminate i-0abc12345def i-0fedcba98765
//	terminate all code 123456
//	price g5.xlarge g5.2xlarge in us-west-2
//	extend all to 4h                live instances stop 4 hours after their launch
//
// Words are case-insensitive and may be separated by spaces or commas; a
// leading "spotter" is ignored. A TTL is a Go duration (90m, 2h, 1h30m) or a
// number and a unit (90 minutes, 2 hours, 1 day). A count is 1-1000; an MFA
// code is six digits after the word code (or mfa). Presets are names the
// token's policy defines; the language only reports the name.
package command

import (
	"time"

	"github.com/spotter-dev/spotter/api"
)

// Tasks a command can name: api's task names, plus Help.
const (
	Launch    = api.TaskLaunch
	Status    = api.TaskStatus
	Terminate = api.TaskTerminate
	Price     = api.TaskPrice
	Extend    = api.TaskExtend
	Help      = "help"
)

// Limits keep parsing hostile input cheap and replies short.
const (
	MaxTextLen  = 1024
	MaxWords    = 64
	MaxCount    = 1000
	MaxTypes    = 10
	MaxIDs      = 100
	maxEchoLen  = 24
	maxTTLHours = 7 * 24
)

// Command is one parsed command. Zero values mean "not given".
type Command struct {
	Task          string
	Count         int
	InstanceTypes []string
	Preset        string
	Region        string
	TTL           time.Duration
	// Code is the MFA code. It is never part of String or of an error.
	Code        string
	InstanceIDs []string
	All         bool
}

// Usage is the help reply: short enough for two text messages.
const Usage = `spotter commands:
launch [N] [type|preset] [in REGION] [for TTL] [code 123456]
status [in REGION]
terminate all|ID…
price [type…] [in REGION]
extend all|ID… to TTL
help
e.g. "launch 2 t3.micro for 2h", "launch gpu code 123456", "terminate all", "extend all to 4h", "price g5.xlarge in eu-west-1". Add "code 123456" when the token needs MFA.`

// Error is a command that cannot be understood; its message is written for
// the person who typed it and never repeats an MFA code.
type Error struct {
	Msg string
}

func (e *Error) Error() string { return e.Msg }

func errorf(msg string) *Error {
	return &Error{Msg: msg + ` Send "help" for the commands.`}
}
