// Command emotion trains, evaluates and serves self-attentive emotion
// recognition networks on IEMOCAP transcripts (angry, happy, neutral, sad).
//
// Usage:
//
//	emotion <command> [flags]
//	emotion help <command>
//
// Each command lives in its own file and registers itself from init with
// register, so adding a command touches no other file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/emotionlab/emotion/model"
	"github.com/spf13/pflag"
)

// The writers commands print to; tests replace them.
var (
	stdout io.Writer = os.Stdout
	stderr io.Writer = os.Stderr
)

// command is one subcommand of emotion.
type command struct {
	name     string
	summary  string // one line, for the command list
	usage    string // the arguments after "emotion <name>", e.g. "[flags]"
	help     string // what the command does, printed by --help
	examples string // example invocations, one per line, printed by --help
	// run parses its own flags (see newFlagSet and parseFlags) and runs.
	// It returns pflag.ErrHelp after printing help, a usageError for a bad
	// command line, and any other error for a failure.
	run func(args []string) error
}

// commands is the registry filled by register.
var commands = map[string]*command{}

// register adds a command; commands call it from init. Registering a name
// twice is a programming error and panics at start-up.
func register(c *command) {
	if c.name == "" || c.run == nil {
		panic("emotion: register: command without a name or run function")
	}
	if _, dup := commands[c.name]; dup {
		panic("emotion: register: duplicate command " + c.name)
	}
	commands[c.name] = c
}

// usageError is a bad command line: emotion exits with status 2. help,
// when set, is the command line whose --help to point to ("bench train");
// by default the command's own.
type usageError struct {
	err  error
	help string
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError.
func usagef(format string, args ...any) error {
	return usageError{err: fmt.Errorf(format, args...)}
}

// newFlagSet returns the flag set of the command name, whose --help (or
// -h) prints the command's help to stdout.
func newFlagSet(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("emotion "+name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.Usage = func() { printCommandHelp(helpOut{}, commands[name], fs) }
	return fs
}

// parseFlags parses args into fs; a bad flag becomes a usageError, --help
// returns pflag.ErrHelp (help already printed), and positional arguments
// are refused unless allowArgs.
func parseFlags(fs *pflag.FlagSet, args []string, allowArgs bool) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usageError{err: err}
	}
	if !allowArgs && fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

func printCommandHelp(w io.Writer, c *command, fs *pflag.FlagSet) {
	if c == nil {
		return
	}
	fmt.Fprintf(w, "Usage: emotion %s %s\n\n", c.name, c.usage)
	fmt.Fprintf(w, "%s\n", strings.TrimSpace(c.summary))
	if h := strings.TrimSpace(c.help); h != "" {
		fmt.Fprintf(w, "\n%s\n", h)
	}
	if fs != nil && fs.HasFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsages())
	}
	if ex := strings.TrimSpace(c.examples); ex != "" {
		fmt.Fprintf(w, "\nExamples:\n")
		for line := range strings.SplitSeq(ex, "\n") {
			fmt.Fprintf(w, "  %s\n", strings.TrimSpace(line))
		}
	}
}

// helpErr is the first failed write of a help text to stdout in this
// command line: printing help ends a command with pflag.ErrHelp, so its
// write error has no other way out (emotion help > /dev/full).
var helpErr error

// helpOut writes help texts to stdout, recording a failed write in
// helpErr.
type helpOut struct{}

func (helpOut) Write(p []byte) (int, error) {
	n, err := stdout.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil && helpErr == nil {
		helpErr = err
	}
	return n, err
}

func printMainHelp(w io.Writer) {
	fmt.Fprintf(w, `emotion trains and serves self-attentive emotion recognition networks
on IEMOCAP transcripts (angry, happy, neutral, sad).

Usage:
  emotion <command> [flags]
  emotion help <command>

Commands:
`)
	names := make([]string, 0, len(commands))
	width := 0
	for n := range commands {
		names = append(names, n)
		width = max(width, len(n))
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'emotion <command> --help' for a command's flags and examples.\n")
}

// commandContext is the context of a long-running command (train,
// serve): signalContext, replaced by tests that stop one as Ctrl-C would.
var commandContext = signalContext

// signalContext is the context of a command: cancelled by Ctrl-C or
// SIGTERM, so that downloads and training stop cleanly.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// emotion runs the command line args (without the program name) and
// returns the exit status: 0, 1 for a failure, 2 for a bad command line,
// 130 (128 + SIGINT, the shell's convention) for a run stopped by Ctrl-C
// or SIGTERM.
func emotion(args []string) int {
	helpErr = nil
	if len(args) == 0 {
		printMainHelp(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "--help", "-help":
		printMainHelp(helpOut{})
		return helpStatus()
	case "help":
		if len(rest) == 0 {
			printMainHelp(helpOut{})
			return helpStatus()
		}
		name, rest = rest[0], append(rest[1:], "--help") // help bench kernels: the subcommand's
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "emotion: unknown command %q; run 'emotion --help'\n", name)
		return 2
	}
	err := c.run(rest)
	var ue usageError
	switch {
	case errors.Is(err, pflag.ErrHelp):
		return helpStatus()
	case err == nil:
		return 0
	case errors.As(err, &ue):
		help := name
		if ue.help != "" {
			help = ue.help
		}
		fmt.Fprintf(stderr, "emotion: %v\nRun 'emotion %s --help' for usage.\n", err, help)
		return 2
	case errors.Is(err, model.ErrInterrupted), errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "emotion: %v\n", err)
		return 130
	default:
		fmt.Fprintf(stderr, "emotion: %v\n", err)
		return 1
	}
}

// helpStatus is the exit status of a command line that printed help: 0,
// or 1 where the help could not be written.
func helpStatus() int {
	if helpErr != nil {
		fmt.Fprintf(stderr, "emotion: writing the help: %v\n", helpErr)
		return 1
	}
	return 0
}

func main() {
	// A write to a closed pipe (emotion train --json | head -1) is an
	// error that the command handles, not the end of the process:
	// train then stops once its epoch is saved and says how to resume,
	// eval still writes its files.
	signal.Ignore(syscall.SIGPIPE)
	os.Exit(emotion(os.Args[1:]))
}

// configFlags maps the fields that the configs' validation errors name
// ("heads = 3 does not divide …", "validation fraction 1.5 outside …") to
// the flags that set them.
var configFlags = map[string]string{
	"embed": "--embed", "hidden": "--hidden", "dense": "--dense", "dialog_hidden": "--dialog-hidden",
	"heads": "--heads", "attn_dim": "--attn-dim", "dropout": "--dropout", "word_dropout": "--word-dropout",
	"embed_init_std": "--embed-init-std", "max_len": "--max-len", "window": "--window",
	"epochs": "--epochs", "lr": "--lr", "weight_decay": "--weight-decay", "clip_norm": "--clip",
	"patience": "--patience", "label_smoothing": "--label-smoothing", "ema": "--ema", "monitor": "--monitor",
	"lr_schedule": "--lr-schedule", "min_lr": "--min-lr", "lr_factor": "--lr-factor", "lr_patience": "--lr-patience",
	"validation fraction": "--val-fraction", "min count": "--min-count", "max length": "--max-len",
}

// configField matches the field a validation error begins with, at the
// start of a line or after a prefix ("model config: "): "name = " (model
// and training configs) or the data options' "name value".
var configField = regexp.MustCompile(`(?m)(^|: )(?:([a-z_]+) = |(validation fraction|min count|max length|window) )`)

// flagError is the usage error of a config's validation error, naming the
// flag where it names a config field (--heads 3 does not divide …).
func flagError(err error) error {
	msg := configField.ReplaceAllStringFunc(err.Error(), func(m string) string {
		sub := configField.FindStringSubmatch(m)
		field := sub[2] + sub[3]
		if f, ok := configFlags[field]; ok {
			return sub[1] + f + " "
		}
		return m
	})
	return usageError{err: errors.New(msg)}
}
