package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/client"
)

func runToken(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runSubcommand(ctx, "token", map[string]subcommand{
		"create": {"create a capability token for AWS credentials and a policy", runTokenCreate},
		"list":   {"list tokens (no secrets)", runTokenList},
		"show":   {"show one token and its policy (no secrets)", runTokenShow},
		"revoke": {"revoke tokens for good", runTokenRevoke},
		"rotate": {"replace a token's credentials, signing secret or TOTP secret", runTokenRotate},
		"unlock": {"clear a token's MFA lockout after too many wrong codes", runTokenUnlock},
	}, args, getenv, stdin, stdout, stderr)
}

func runTokenCreate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newAdminCmd("token create", "token create --name NAME [credentials] [policy] [flags]",
		"Creates a capability token: AWS credentials (sealed by the server) bound by a policy.\n"+
			"The token, its URL and any secrets are printed once: store them now.", getenv, stderr)
	var cred credFlags
	cred.register(fs.FlagSet)
	var pol policyFlags
	pol.register(fs.FlagSet)
	var qr qrFlags
	qr.register(fs.FlagSet)
	var srcs sourceFlags
	srcs.register(fs.FlagSet, false)
	name := fs.String("name", "", "token name, for people (required)")
	mfaSerial := fs.String("mfa-serial", "", "AWS MFA device ARN: each request's code goes to STS")
	totp := fs.Bool("totp", false, "enrol a TOTP secret that spotter checks itself")
	expiresIn := fs.Duration("expires-in", 0, "token lifetime (default: the server's)")
	requireSig := fs.Bool("require-signature", false, "require a signed body (X-Spotter-Signature); a signing secret is issued")
	asJSON := fs.Bool("json", false, "print the reply as JSON (secrets included)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("token create: unexpected argument %q", pos[0])
	}
	if *name == "" {
		return usagef("token create: --name is required")
	}
	if *mfaSerial != "" && *totp {
		return usagef("token create: --mfa-serial and --totp are two kinds of MFA; pick one")
	}
	if qr.wanted() && !*totp {
		return usagef("token create: --qr and --qr-png draw a TOTP enrolment: add --totp")
	}
	in := api.CreateTokenRequest{Name: *name, RequireSignature: *requireSig}
	if in.Policy, err = pol.build(fs.FlagSet); err != nil {
		return err
	}
	if in.Sources, err = srcs.build(); err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	if *expiresIn != 0 {
		in.ExpiresIn = expiresIn.String()
	}
	switch {
	case *mfaSerial != "":
		in.MFA = &api.MFAInput{SerialNumber: *mfaSerial}
	case *totp:
		in.MFA = &api.MFAInput{TOTP: true}
	}
	// The client is built before stdin is read so that a missing admin
	// token fails before anyone types a secret.
	c, err := fs.client()
	if err != nil {
		return err
	}
	if in.Credentials, err = cred.credentials(getenv, stdin, stderr, true); err != nil {
		return err
	}
	if in.Credentials == nil {
		return usagef("token create: name credentials: --access-key-id with --secret-access-key-stdin (or %s and %s), and/or --role-arn", cliEnvAWSKeyID, cliEnvAWSSecret)
	}
	out, err := c.CreateToken(ctx, in)
	if err != nil {
		return err
	}
	if *asJSON {
		if err := writeJSON(stdout, out); err != nil {
			return err
		}
		return qr.emit(out.TOTP, stderr, stderr)
	}
	fmt.Fprintln(stdout, "Token created.")
	printTokenInfo(stdout, out.TokenInfo, false)
	lines := []secretLine{
		{"Capability URL", out.URL},
		{"Token", out.Token},
		{"Signing secret", out.SigningSecret},
		{"TOTP secret", totpField(out.TOTP, func(e *api.TOTPEnrolment) string { return e.Secret })},
		{"TOTP URL", totpField(out.TOTP, func(e *api.TOTPEnrolment) string { return e.OTPAuthURL })},
	}
	for _, src := range out.Sources {
		// The hook URLs hold the token too: as secret as the URL itself.
		lines = append(lines, secretLine{sourceLabel(src) + " webhook URL", out.URL + "/" + src})
	}
	printSecrets(stdout, lines)
	return qr.emit(out.TOTP, stdout, stderr)
}

func runTokenList(ctx context.Context, args []string, getenv func(string) string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newAdminCmd("token list", "token list [flags]",
		"Lists every token in id order, revoked and expired ones included, fetching pages of 100. "+
			"With --limit, lists one page and names the command for the next on stderr. Shows no secrets.", getenv, stderr)
	asJSON := fs.Bool("json", false, "print JSON: an array of tokens; with --limit, {\"tokens\":[…],\"nextCursor\":…}")
	limit := fs.Int("limit", 0, "list one page of at most N tokens (1 to 1000)")
	cursor := fs.String("cursor", "", "resume after the page that gave this nextCursor (with --limit)")
	_, c, err := fs.start(args, func(pos []string) error {
		if err := noArgs("token list")(pos); err != nil {
			return err
		}
		if *limit < 0 || *limit > 1000 || (*cursor != "" && *limit == 0) {
			return usagef("token list: --limit takes 1 to 1000, and --cursor needs --limit")
		}
		return nil
	})
	if err != nil {
		return err
	}
	var page api.TokenPage
	if *limit > 0 {
		page, err = c.ListTokensPage(ctx, client.ListTokensOptions{Limit: *limit, Cursor: *cursor})
	} else {
		page.Tokens, err = c.ListTokens(ctx)
	}
	if err != nil {
		return err
	}
	toks := page.Tokens
	if toks == nil {
		toks = []api.TokenInfo{} // [] rather than null, for jq
	}
	if *asJSON {
		if *limit > 0 {
			page.Tokens = toks
			return writeJSON(stdout, page)
		}
		return writeJSON(stdout, toks)
	}
	if page.NextCursor != "" {
		defer fmt.Fprintf(stderr, "more tokens: spotter token list --limit %d --cursor %s\n", *limit, page.NextCursor)
	}
	if len(toks) == 0 {
		fmt.Fprintln(stderr, "no tokens")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tCREDENTIALS\tMFA\tSIGNED\tEXPIRES")
	for _, t := range toks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\t%s\n", t.ID, t.Name, cmp.Or(t.Status, "-"),
			credentialSummary(t.Credentials), mfaSummary(t.MFA)+lockedNote(t.MFALock), t.RequireSignature, timeOrDash(t.ExpiresAt))
	}
	return tw.Flush()
}

func runTokenShow(ctx context.Context, args []string, getenv func(string) string, _ io.Reader, stdout, stderr io.Writer) error {
	return runOneToken(ctx, args, getenv, stdout, stderr, "token show", "Shows one token and its policy. Shows no secrets.",
		func(c *client.Client, id string) (any, func(), error) {
			t, err := c.GetToken(ctx, id)
			return t, func() { printTokenInfo(stdout, t, true) }, err
		})
}

// runOneToken is the CLI of an admin command on one token id: connection
// flags, --json, exactly one id; call does the work and says how to print
// its answer when --json is not asked for.
func runOneToken(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, name, help string,
	call func(c *client.Client, id string) (out any, print func(), err error)) error {
	return runOneNamed(args, getenv, nil, stdout, stderr, oneNamed{name: name, help: help, arg: "ID", what: "token id"},
		func(c *client.Client, id string, _ json.RawMessage) (any, func(), error) { return call(c, id) })
}

func runTokenRevoke(ctx context.Context, args []string, getenv func(string) string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newAdminCmd("token revoke", "token revoke ID [ID…] [flags]",
		"Revokes tokens for good: every replica refuses them within seconds. Instances they launched keep their TTL.", getenv, stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, c, err := fs.start(args, func(pos []string) error {
		if len(pos) == 0 {
			return usagef("token revoke: want at least one token id")
		}
		return nil
	})
	if err != nil {
		return err
	}
	var done []api.RevokedToken
	for _, id := range pos {
		r, err := c.RevokeToken(ctx, id)
		if err != nil {
			if *asJSON && len(done) > 0 {
				_ = writeJSON(stdout, done)
			}
			return err
		}
		done = append(done, r)
		if !*asJSON {
			fmt.Fprintf(stdout, "revoked %s at %s\n", r.ID, timeOrDash(&r.RevokedAt))
		}
	}
	if *asJSON {
		return writeJSON(stdout, done)
	}
	return nil
}

func runTokenRotate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newAdminCmd("token rotate", "token rotate ID [--access-key-id … | --role-arn …] [--signing-secret] [--totp] [--slack-signing-secret-file F …] [flags]",
		"Replaces a token's credentials, signing secret, TOTP secret and/or source secrets. Its URL stays valid.\n"+
			"New secrets are printed once: store them now.", getenv, stderr)
	var cred credFlags
	cred.register(fs.FlagSet)
	var qr qrFlags
	qr.register(fs.FlagSet)
	var srcs sourceFlags
	srcs.register(fs.FlagSet, true)
	signing := fs.Bool("signing-secret", false, "issue a new signing secret")
	totp := fs.Bool("totp", false, "enrol a new TOTP secret")
	grace := fs.String("grace", "", "keep the old signing secret valid this long, e.g. 30m; 0s ends it at once (default: the server's, 1h)")
	asJSON := fs.Bool("json", false, "print the reply as JSON (secrets included)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("token rotate: want one token id")
	}
	if qr.wanted() && !*totp {
		return usagef("token rotate: --qr and --qr-png draw a TOTP enrolment: add --totp")
	}
	in := api.RotateTokenRequest{SigningSecret: *signing, TOTP: *totp}
	if in.Sources, err = srcs.build(); err != nil {
		return fmt.Errorf("token rotate: %w", err)
	}
	if in.Grace, err = rotateGrace(*grace); err != nil {
		return err
	}
	c, err := fs.client()
	if err != nil {
		return err
	}
	// No credentials from the environment here: rotating names what it
	// replaces, and ambient keys are not a choice anyone made.
	if in.Credentials, err = cred.credentials(getenv, stdin, stderr, false); err != nil {
		return err
	}
	if in.Credentials == nil && !in.SigningSecret && !in.TOTP && in.Sources == nil {
		return usagef("token rotate: name what to rotate: --access-key-id/--role-arn, --signing-secret, --totp and/or a source's secret file (--slack-signing-secret-file, …, --remove-sources)")
	}
	out, err := c.RotateToken(ctx, pos[0], in)
	if err != nil {
		return err
	}
	if *asJSON {
		if err := writeJSON(stdout, out); err != nil {
			return err
		}
		return qr.emit(out.TOTP, stderr, stderr)
	}
	printRotated(stdout, in, out)
	return qr.emit(out.TOTP, stdout, stderr)
}

// rotateGrace checks --grace: "" is the server's default.
func rotateGrace(grace string) (string, error) {
	if grace == "" {
		return "", nil
	}
	d, err := time.ParseDuration(grace)
	if err != nil || d < 0 {
		return "", usagef("token rotate: --grace %q: want a duration such as 30m or 0s", grace)
	}
	return d.String(), nil
}

// printRotated says what a rotate replaced, and the new secrets once.
func printRotated(stdout io.Writer, in api.RotateTokenRequest, out api.RotatedToken) {
	fmt.Fprintf(stdout, "Token %s rotated:", out.ID)
	var what []string
	if in.Credentials != nil {
		what = append(what, "credentials")
	}
	if out.SigningSecret != "" {
		what = append(what, "signing secret")
	}
	if out.TOTP != nil {
		what = append(what, "TOTP secret")
	}
	if in.Sources != nil {
		what = append(what, "sources (now: "+cmp.Or(strings.Join(out.Sources, ", "), "none")+")")
	}
	fmt.Fprintln(stdout, " "+strings.Join(what, ", ")+".")
	if out.SigningSecret != "" || out.TOTP != nil {
		printSecrets(stdout, []secretLine{
			{"Signing secret", out.SigningSecret},
			{"TOTP secret", totpField(out.TOTP, func(e *api.TOTPEnrolment) string { return e.Secret })},
			{"TOTP URL", totpField(out.TOTP, func(e *api.TOTPEnrolment) string { return e.OTPAuthURL })},
		})
	}
}
