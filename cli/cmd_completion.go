package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// compCommand is one command as completion sees it: its name and summary,
// its flags, or its subcommands.
type compCommand struct {
	name, summary string
	flags         []compFlag
	subs          []compCommand
	args          []string // fixed positional words (completion's shells)
}

type compFlag struct{ name, usage string }

var (
	flagLine    = regexp.MustCompile(`^  -([A-Za-z0-9][A-Za-z0-9-]*)(?:[ \t]+(.*))?$`)
	commandLine = regexp.MustCompile(`^  ([a-z][a-z0-9-]*) +(.*)$`)
)

func runCompletion(ctx context.Context, args []string, _ func(string) string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("completion", "completion bash|zsh|fish",
		"Prints a completion script for commands, subcommands and flags. Load it with:\n"+
			"  bash:  source <(spotter completion bash)        (or save it in /etc/bash_completion.d/spotter)\n"+
			"  zsh:   source <(spotter completion zsh)\n"+
			"  fish:  spotter completion fish | source         (or save it in ~/.config/fish/completions/spotter.fish)", stderr)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("completion: name one shell: bash, zsh or fish")
	}
	tree := completionTree(ctx)
	var script string
	switch pos[0] {
	case "bash":
		script = bashCompletion(tree)
	case "zsh":
		script = "#compdef spotter\n# zsh completion for spotter, through zsh's bash completion support.\n" +
			"autoload -U +X bashcompinit && bashcompinit\n" + bashCompletion(tree)
	case "fish":
		script = fishCompletion(tree)
	default:
		return usagef("completion: %q: want bash, zsh or fish", pos[0])
	}
	_, err = io.WriteString(stdout, script)
	return err
}

// completionTree reads every command's flags from its own --help, so the
// scripts cannot drift from the commands.
func completionTree(ctx context.Context) []compCommand {
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var tree []compCommand
	for _, n := range names {
		c := compCommand{name: n, summary: cmds[n].summary}
		if n == "completion" {
			c.args = []string{"bash", "zsh", "fish"}
		}
		help := helpOf(ctx, cmds[n].run)
		subs, flags := parseHelp(help)
		c.flags = flags
		for _, s := range subs {
			sh := helpOf(ctx, func(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
				return cmds[n].run(ctx, append([]string{s.name}, args...), getenv, stdin, stdout, stderr)
			})
			_, s.flags = parseHelp(sh)
			c.subs = append(c.subs, s)
		}
		tree = append(tree, c)
	}
	return tree
}

// helpOf runs a command with --help and returns the help it asked to print.
func helpOf(ctx context.Context, run func(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error) string {
	err := run(ctx, []string{"--help"}, func(string) string { return "" }, strings.NewReader(""), io.Discard, io.Discard)
	var h *helpRequest
	if errors.As(err, &h) {
		return h.text
	}
	return ""
}

// parseHelp reads the "commands:" and "flags:" sections of a help text in
// the layout newFlagSet and groupHelp write.
func parseHelp(help string) (subs []compCommand, flags []compFlag) {
	section := ""
	for _, line := range strings.Split(help, "\n") {
		switch {
		case line == "commands:" || line == "flags:":
			section = line
			continue
		case line == "":
			if section == "commands:" {
				section = ""
			}
			continue
		}
		switch section {
		case "commands:":
			if m := commandLine.FindStringSubmatch(line); m != nil {
				subs = append(subs, compCommand{name: m[1], summary: strings.TrimSpace(m[2])})
			}
		case "flags:":
			if m := flagLine.FindStringSubmatch(line); m != nil {
				flags = append(flags, compFlag{name: m[1]})
			} else if len(flags) > 0 && strings.HasPrefix(line, "    \t") && flags[len(flags)-1].usage == "" {
				flags[len(flags)-1].usage = strings.TrimSpace(line)
			}
		}
	}
	return subs, flags
}

func flagWords(fl []compFlag) string {
	w := make([]string, len(fl))
	for i, f := range fl {
		w[i] = "--" + f.name
	}
	return strings.Join(w, " ")
}

func bashCompletion(tree []compCommand) string {
	var b strings.Builder
	b.WriteString(`# bash completion for spotter. Load it with:  source <(spotter completion bash)
_spotter() {
    local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]} sub=${COMP_WORDS[2]}
    local words="" flags=""
    if [[ $COMP_CWORD -eq 1 ]]; then
        words="`)
	names := make([]string, len(tree))
	for i, c := range tree {
		names[i] = c.name
	}
	b.WriteString(strings.Join(names, " ") + "\"\n    else\n        case $cmd in\n")
	for _, c := range tree {
		fmt.Fprintf(&b, "        %s)\n", c.name)
		switch {
		case len(c.subs) > 0:
			subNames := make([]string, len(c.subs))
			for i, s := range c.subs {
				subNames[i] = s.name
			}
			fmt.Fprintf(&b, "            if [[ $COMP_CWORD -eq 2 ]]; then words=%q; fi\n", strings.Join(subNames, " "))
			b.WriteString("            case $sub in\n")
			for _, s := range c.subs {
				fmt.Fprintf(&b, "            %s) flags=%q ;;\n", s.name, flagWords(s.flags))
			}
			b.WriteString("            esac ;;\n")
		default:
			if len(c.args) > 0 {
				fmt.Fprintf(&b, "            if [[ $COMP_CWORD -eq 2 ]]; then words=%q; fi\n", strings.Join(c.args, " "))
			}
			fmt.Fprintf(&b, "            flags=%q ;;\n", flagWords(c.flags))
		}
	}
	b.WriteString(`        esac
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    elif [[ -n $words ]]; then
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
    fi
}
complete -o default -F _spotter spotter
`)
	return b.String()
}

func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func fishCompletion(tree []compCommand) string {
	var b strings.Builder
	b.WriteString("# fish completion for spotter. Load it with:  spotter completion fish | source\n")
	names := make([]string, len(tree))
	for i, c := range tree {
		names[i] = c.name
	}
	all := strings.Join(names, " ")
	for _, c := range tree {
		fmt.Fprintf(&b, "complete -c spotter -f -n 'not __fish_seen_subcommand_from %s' -a %s -d %s\n", all, c.name, fishQuote(c.summary))
	}
	for _, c := range tree {
		if len(c.subs) == 0 {
			if len(c.args) > 0 {
				fmt.Fprintf(&b, "complete -c spotter -f -n '__fish_seen_subcommand_from %s' -a %s\n", c.name, fishQuote(strings.Join(c.args, " ")))
			}
			for _, f := range c.flags {
				fmt.Fprintf(&b, "complete -c spotter -n '__fish_seen_subcommand_from %s' -l %s -d %s\n", c.name, f.name, fishQuote(f.usage))
			}
			continue
		}
		subNames := make([]string, len(c.subs))
		for i, s := range c.subs {
			subNames[i] = s.name
		}
		for _, s := range c.subs {
			fmt.Fprintf(&b, "complete -c spotter -f -n '__fish_seen_subcommand_from %s; and not __fish_seen_subcommand_from %s' -a %s -d %s\n",
				c.name, strings.Join(subNames, " "), s.name, fishQuote(s.summary))
			for _, f := range s.flags {
				fmt.Fprintf(&b, "complete -c spotter -n '__fish_seen_subcommand_from %s; and __fish_seen_subcommand_from %s' -l %s -d %s\n",
					c.name, s.name, f.name, fishQuote(f.usage))
			}
		}
	}
	return b.String()
}
