package command

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

var (
	regionRe = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	typeRe   = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
	idRe     = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)
	presetRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	codeRe   = regexp.MustCompile(`^\d{6}$`)
)

// keywords are never presets, and are what "did you mean" suggests from.
var keywords = []string{Launch, Status, Terminate, Price, Extend, Help, "in", "for", "to", "code", "mfa", "all", "x"}

// suggestions map words people try to the command they likely meant; they
// are only suggested, never acted on.
var suggestions = map[string]string{
	"start": Launch, "run": Launch, "spawn": Launch, "up": Launch, "create": Launch, "new": Launch,
	"stop": Terminate, "kill": Terminate, "down": Terminate, "end": Terminate, "delete": Terminate, "destroy": Terminate,
	"list": Status, "ls": Status, "ps": Status, "show": Status, "info": Status,
	"prices": Price, "cost": Price, "quote": Price, "spot": Price,
	"renew": Extend, "prolong": Extend, "longer": Extend,
	"?": Help, "usage": Help, "commands": Help,
}

// Parse reads one command. Empty text is a request for help. The error, if
// any, is an *Error whose message is the reply.
func Parse(text string) (Command, error) {
	if len(text) > MaxTextLen {
		return Command{}, errorf("That message is too long for a command.")
	}
	words := split(text)
	if len(words) > MaxWords {
		return Command{}, errorf("That is too many words for a command.")
	}
	if len(words) > 0 && words[0] == "spotter" {
		words = words[1:]
	}
	if len(words) == 0 {
		return Command{Task: Help}, nil
	}
	c := Command{Task: words[0]}
	switch c.Task {
	case Help:
		return Command{Task: Help}, nil
	case Launch, Status, Terminate, Price, Extend:
	default:
		if s, ok := suggestions[c.Task]; ok {
			if s == Help {
				return Command{Task: Help}, nil
			}
			return Command{}, errorf("I don't know " + quote(c.Task) + `; did you mean "` + s + `"?`)
		}
		return Command{}, errorf("I don't know " + quote(c.Task) + ". Commands: launch, status, terminate, price, extend, help.")
	}
	p := parser{c: &c, words: words[1:]}
	if err := p.run(); err != nil {
		return Command{}, err
	}
	return c, nil
}

// split lower-cases text and cuts it at spaces and commas, dropping
// trailing sentence punctuation ("launch 2 t3.micro." is a command).
func split(text string) []string {
	f := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return unicode.IsSpace(r) || r == ','
	})
	out := f[:0]
	for _, w := range f {
		if w = strings.TrimRight(w, ".!;:"); w != "" {
			out = append(out, w)
		}
	}
	return out
}

type parser struct {
	c     *Command
	words []string
	i     int
}

func (p *parser) next() (string, bool) {
	if p.i >= len(p.words) {
		return "", false
	}
	w := p.words[p.i]
	p.i++
	return w, true
}

func (p *parser) run() error {
	for {
		w, ok := p.next()
		if !ok {
			break
		}
		if err := p.word(w); err != nil {
			return err
		}
	}
	return p.check()
}

// word reads one word, and the words that belong to it.
func (p *parser) word(w string) error {
	switch {
	case w == "in":
		return p.region()
	case w == "for", w == "to" && p.c.Task == Extend:
		return p.ttl()
	case w == "code", w == "mfa":
		return p.code()
	case w == "x", w == "×", w == "*":
		return nil // "launch 2 x t3.micro"
	}
	switch p.c.Task {
	case Terminate, Extend:
		return p.terminateWord(w)
	case Launch, Price:
		return p.launchWord(w)
	}
	return p.unknown(w)
}

func (p *parser) region() error {
	r, _ := p.next()
	if !regionRe.MatchString(r) {
		return errorf(`After "in" comes a region, like us-east-1.`)
	}
	if p.c.Region != "" && p.c.Region != r {
		return errorf("Name one region.")
	}
	p.c.Region = r
	return nil
}

func (p *parser) code() error {
	code, _ := p.next()
	if !codeRe.MatchString(code) {
		return errorf(`After "code" come the six digits of your MFA code.`)
	}
	if p.c.Code != "" {
		return errorf("Send one MFA code.")
	}
	p.c.Code = code
	return nil
}

// terminateWord reads "all" or an instance id (terminate, extend).
func (p *parser) terminateWord(w string) error {
	c := p.c
	switch {
	case w == "all":
		c.All = true
	case idRe.MatchString(w):
		if !slices.Contains(c.InstanceIDs, w) {
			c.InstanceIDs = append(c.InstanceIDs, w)
		}
	default:
		return p.unknown(w)
	}
	return nil
}

// launchWord reads an instance type (launch, price), a count or a preset
// name (launch).
func (p *parser) launchWord(w string) error {
	c := p.c
	switch {
	case typeRe.MatchString(w):
		if !slices.Contains(c.InstanceTypes, w) {
			c.InstanceTypes = append(c.InstanceTypes, w)
		}
	case c.Task != Launch:
		return p.unknown(w)
	case isDigits(w):
		return p.count(w)
	case presetRe.MatchString(w) && !slices.Contains(keywords, w) && !idRe.MatchString(w) && !regionRe.MatchString(w):
		if c.Preset != "" {
			return errorf("Name one preset.")
		}
		c.Preset = w
	default:
		return p.unknown(w)
	}
	return nil
}

func (p *parser) count(w string) error {
	if p.c.Count != 0 {
		return errorf("Give one count.")
	}
	n, err := strconv.Atoi(w)
	if err != nil || n < 1 || n > MaxCount {
		// Never echoed: a long number here is often an MFA code in the wrong place.
		return errorf(`A count is 1-1000; put an MFA code after the word "code".`)
	}
	p.c.Count = n
	return nil
}

// ttl reads "90m", "1h30m", or a number and a unit word: "2 hours".
func (p *parser) ttl() error {
	w, _ := p.next()
	bad := errorf(`After "for" comes a time like 90m, 2h or "3 hours".`)
	if p.c.TTL != 0 {
		return errorf("Give one time to live.")
	}
	var d time.Duration
	if isDigits(w) && p.i < len(p.words) {
		n, err := strconv.Atoi(w)
		unit, ok := unitOf(p.words[p.i])
		if err != nil || !ok || n < 1 || n > maxTTLHours*60 {
			return bad
		}
		p.i++
		d = time.Duration(n) * unit
	} else {
		if w == "" || len(w) > 16 {
			return bad
		}
		w = strings.TrimSuffix(strings.TrimSuffix(w, "in"), "r") // 90min, 2hr → 90m, 2h
		v, err := time.ParseDuration(w)
		if err != nil {
			return bad
		}
		d = v
	}
	if d < time.Minute || d > maxTTLHours*time.Hour {
		return errorf("A time to live is between 1 minute and 7 days.")
	}
	p.c.TTL = d
	return nil
}

func unitOf(w string) (time.Duration, bool) {
	switch w {
	case "m", "min", "mins", "minute", "minutes":
		return time.Minute, true
	case "h", "hr", "hrs", "hour", "hours":
		return time.Hour, true
	case "d", "day", "days":
		return 24 * time.Hour, true
	}
	return 0, false
}

// check applies what each task needs once every word is read.
func (p *parser) check() error {
	c := p.c
	switch c.Task {
	case Launch:
		if c.Preset != "" && len(c.InstanceTypes) > 0 {
			return errorf("Name instance types or a preset, not both.")
		}
	case Terminate:
		if err := c.instances(`"terminate all" or "terminate i-0abc12345def"`); err != nil {
			return err
		}
	case Extend:
		if err := c.instances(`"extend all to 4h" or "extend i-0abc12345def to 4h"`); err != nil {
			return err
		}
		if c.TTL == 0 {
			return errorf(`Say the new time to live, counted from launch: "extend all to 4h".`)
		}
	}
	if len(c.InstanceTypes) > MaxTypes {
		return errorf("Name at most 10 instance types.")
	}
	if len(c.InstanceIDs) > MaxIDs {
		return errorf("Name at most 100 instances.")
	}
	return nil
}

// instances checks a terminate or extend names all or ids, not both;
// examples are what the reply shows.
func (c *Command) instances(examples string) error {
	if !c.All && len(c.InstanceIDs) == 0 {
		return errorf("Say which instances: " + examples + ".")
	}
	if c.All && len(c.InstanceIDs) > 0 {
		return errorf(`Say "` + c.Task + ` all" or name instances, not both.`)
	}
	return nil
}

// unknown explains a word that has no place here, suggesting what fits.
func (p *parser) unknown(w string) error {
	c := p.c
	switch {
	case idRe.MatchString(w):
		return errorf("Instance ids go with terminate or extend.")
	case typeRe.MatchString(w):
		return errorf("Instance types go with launch or price.")
	case isDigits(w) && len(w) == 6:
		return errorf(`Put an MFA code after the word "code".`)
	case isDigits(w):
		return errorf("A number goes with launch, as the count.")
	case w == "all":
		return errorf(`"all" goes with terminate or extend.`)
	case regionRe.MatchString(w):
		return errorf(`Put "in" before a region: "` + c.Task + ` in ` + w + `".`)
	case strings.HasPrefix(w, "i-"):
		return errorf(quote(w) + " is not an instance id like i-0abc12345def.")
	}
	if s, ok := suggestions[w]; ok && s != Help {
		return errorf("I don't understand " + quote(w) + ` after "` + c.Task + `"; "` + s + `" is a command of its own.`)
	}
	return errorf("I don't understand " + quote(w) + ` after "` + c.Task + `".`)
}

// quote echoes a word the person typed, short, and never one holding a run
// of digits long enough to be a code (escapes included: "\x00" + "0000").
func quote(w string) string {
	if utf8.RuneCountInString(w) > maxEchoLen {
		w = string([]rune(w)[:maxEchoLen]) + "…"
	}
	q := strconv.Quote(w)
	digits := 0
	for i := 0; i < len(q); i++ {
		if q[i] < '0' || q[i] > '9' {
			digits = 0
		} else if digits++; digits >= 6 {
			return "that word"
		}
	}
	return q
}

func isDigits(s string) bool {
	if s == "" || len(s) > 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
