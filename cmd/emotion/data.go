package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/emotionlab/emotion/dataset"
	"github.com/spf13/pflag"
)

func init() {
	register(&command{
		name:    "data",
		summary: "Load a data source and print its counts, splits and vocabulary",
		usage:   "[flags]",
		help: `Loads the source named by --data and prints: the utterances and what the
source knows (speakers, dialogs) with any warnings it gave; the labelled
utterances per session and class; the size of each split of --protocol per
class, with the balanced class weights of the training split; and the
vocabulary built from each training split.

--data is one of:
  hf:owner/name[@revision]   a Hugging Face dataset (default hf:Zahra99/IEMOCAP_Text);
                             uses HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_OFFLINE
  FILE.parquet[,FILE...]     parquet files in the IEMOCAP_Text layout, or a folder of them
  FILE.csv[,FILE...]         IEMOCAP transcripts with utterance IDs, or a folder of them

--protocol is one of:
  session5   train on sessions 1-4 (stratified validation split), test on session 5
  loso       leave one session out: five folds
  seed       pooled random stratified split (60/20/20, or 80/10/10 with --dialog);
             for comparison with the published reference only: leaky`,
		examples: `emotion data
emotion data --data ../shared/data/iemocap
emotion data --data ../shared/data/zahra99 --protocol loso
emotion data --data hf:Zahra99/IEMOCAP_Text@main --protocol seed --dialog --seed 7`,
		run: runData,
	})
}

// checkDataFlag refuses a --data given as an empty string (an unset shell
// variable, --data "$DATA"), which would otherwise mean the default: the
// hub for train and data, the checkpoint's own data for eval.
func checkDataFlag(fs *pflag.FlagSet) error {
	if f := fs.Lookup("data"); f != nil && f.Changed && strings.TrimSpace(f.Value.String()) == "" {
		return usagef("--data is empty; leave it out for the default")
	}
	if f, p := fs.Lookup("val-fraction"), fs.Lookup("protocol"); f != nil && f.Changed && p != nil && p.Value.String() == dataset.ProtocolSeed {
		return usagef("--val-fraction draws validation from the training sessions of session5 and loso; the seed protocol's splits are fixed (60/20/20, or 80/10/10 for the dialog model)")
	}
	return nil
}

// dataFlags adds the flags that select and encode a source to fs and
// returns the options they fill (defaults from dataset.DefaultOptions).
func dataFlags(fs *pflag.FlagSet) *dataset.Options {
	o := new(dataset.Options)
	*o = dataset.DefaultOptions()
	fs.StringVar(&o.Data, "data", o.Data, "source: hf:owner/name[@revision], parquet files or folder, CSV files or folder")
	fs.StringVar(&o.Protocol, "protocol", o.Protocol, "split protocol: session5, loso or seed")
	fs.Int64Var(&o.Seed, "seed", o.Seed, "seed of the splits")
	fs.Float64Var(&o.ValFraction, "val-fraction", o.ValFraction, "share of each class of the training sessions held out for validation (session5, loso)")
	fs.StringVar(&o.ValSplit, "val-split", dataset.ValSplitStratified, "how validation is drawn from the training sessions: stratified (--val-fraction of each class), speaker (whole speakers holding at least --val-fraction of the utterances: never a training target) or session (whole sessions: neither target nor context, as the test session)")
	fs.IntVar(&o.Window, "window", o.Window, "dialog window: the target plus up to window-1 earlier turns")
	fs.IntVar(&o.MinCount, "min-count", o.MinCount, "minimum count in the training split for a token to enter the vocabulary")
	fs.IntVar(&o.MaxLen, "max-len", o.MaxLen, "tokens kept per utterance (longer ones are truncated)")
	fs.BoolVar(&o.Tokenizer.DropNonSpeech, "drop-nonspeech", o.Tokenizer.DropNonSpeech, "drop non-speech tokens such as [LAUGHTER] and [BREATHING]")
	fs.BoolVar(&o.Dialog, "dialog", o.Dialog, "split for a dialog model (the seed protocol's 80/10/10 instead of 60/20/20)")
	return o
}

func runData(args []string) error {
	fs := newFlagSet("data")
	o := dataFlags(fs)
	vectors := fs.String("embeddings", "", "pretrained word vectors (as train's --embeddings): how many of each vocabulary's tokens they cover")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if err := checkDataFlag(fs); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return flagError(err)
	}
	if *vectors != "" {
		if _, err := dataset.WordVectorsDim(*vectors); err != nil {
			return err // before the data loads
		}
	}
	ctx, cancel := signalContext()
	defer cancel()
	c, err := dataset.Load(ctx, o.Data)
	if err != nil {
		return err
	}
	folds, err := dataset.Folds(c, *o)
	if err != nil {
		return err
	}
	return printData(stdout, c, folds, *o, *vectors)
}

// printData writes the report of the data command; with vectors, a file
// of word vectors, how many of each vocabulary's tokens it covers.
func printData(w io.Writer, c *dataset.Corpus, folds []dataset.Fold, o dataset.Options, vectors string) error {
	labelled := c.Labelled()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "source\t%s\n", c.Source)
	fmt.Fprintf(tw, "utterances\t%d: %d labelled (%s), %d context only\n",
		len(c.Utterances), len(labelled), strings.Join(dataset.LabelNames[:], ", "), len(c.Utterances)-len(labelled))
	if c.HasSpeakers {
		fmt.Fprintf(tw, "speakers\tknown: %d speakers (gender and same-speaker features)\n", c.Speakers())
	} else {
		fmt.Fprintf(tw, "speakers\tunknown: speaker features are zero\n")
	}
	win := meanWindow(c, labelled, o.Window)
	if c.HasDialogs {
		fmt.Fprintf(tw, "dialogs\tknown: %d dialogs; windows of up to %d turns (mean %.2f)\n", c.Dialogs(), o.Window, win)
	} else {
		fmt.Fprintf(tw, "dialogs\tunknown: windows of up to %d rows follow row order within a session (an approximation; mean %.2f)\n", o.Window, win)
	}
	if len(c.Warnings) == 0 {
		fmt.Fprintf(tw, "warnings\tnone\n")
	}
	for _, warn := range c.Warnings {
		fmt.Fprintf(tw, "warning\t%s\n", warn)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nLabelled utterances per session\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "session\t%s\ttotal\t\n", strings.Join(dataset.LabelNames[:], "\t"))
	counts := dataset.SessionCounts(c)
	sessions := make([]int, 0, len(counts))
	for s := range counts {
		sessions = append(sessions, s)
	}
	slices.Sort(sessions)
	for _, s := range sessions {
		name := fmt.Sprint(s)
		if s == 0 {
			name = "unknown"
		}
		writeCountRow(tw, name, counts[s])
	}
	writeCountRow(tw, "all", dataset.ClassCounts(c, labelled))
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nProtocol %s (seed %d", o.Protocol, o.Seed)
	switch o.Protocol {
	case dataset.ProtocolSeed:
		if o.Dialog {
			fmt.Fprintf(w, ", dialog model 80/10/10; leaky, for comparison only)\n")
		} else {
			fmt.Fprintf(w, ", sentence model 60/20/20; leaky, for comparison only)\n")
		}
	case dataset.ProtocolSession5, dataset.ProtocolLOSO:
		if o.ValSplit == dataset.ValSplitSpeaker || o.ValSplit == dataset.ValSplitSession {
			fmt.Fprintf(w, ", validation: whole %ss holding at least %g of the training sessions)\n", o.ValSplit, o.ValFraction)
		} else {
			fmt.Fprintf(w, ", validation %g of each class of the training sessions)\n", o.ValFraction)
		}
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "fold\tsplit\t%s\ttotal\t\n", strings.Join(dataset.LabelNames[:], "\t"))
	for _, f := range folds {
		for i, sp := range []struct {
			name  string
			items []int
		}{{"train", f.Train}, {"val", f.Val}, {"test", f.Test}} {
			name := ""
			if i == 0 {
				name = f.Name
			}
			writeCountRow(tw, name+"\t"+sp.name, dataset.ClassCounts(c, sp.items))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, f := range folds {
		if len(f.ValHeldOut) > 0 {
			fmt.Fprintf(w, "%s: validation %ss %s\n", f.Name, o.ValSplit, strings.Join(f.ValHeldOut, ", "))
		}
	}

	fmt.Fprintf(w, "\nVocabulary (from each training split; min count %d, PAD and UNK included) and class weights (balanced, training split)\n", o.MinCount)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	vecCol := ""
	if vectors != "" {
		vecCol = "vectors\t"
	}
	fmt.Fprintf(tw, "fold\ttokens\ttest unk\t%struncated\t%s\t\n", vecCol, strings.Join(dataset.LabelNames[:], "\t"))
	for _, f := range folds {
		e := dataset.Encode(c, f.Train, o)
		cw := dataset.ClassWeights(c, f.Train)
		read, unk := 0, 0
		for _, i := range f.Test {
			read += len(e.Tokens[i])
			for _, id := range e.Tokens[i] {
				if id == dataset.UnkID {
					unk++
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f%%\t", f.Name, e.Vocab.Len(), 100*float64(unk)/float64(max(read, 1)))
		if vectors != "" {
			wv, err := dataset.ReadWordVectors(vectors, e.Vocab)
			if err != nil {
				return err
			}
			fmt.Fprintf(tw, "%d (%.1f%%)\t", wv.Found, 100*wv.Coverage())
		}
		fmt.Fprintf(tw, "%d\t", e.Truncated)
		for _, x := range cw {
			fmt.Fprintf(tw, "%.4f\t", x)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "(test unk: the test split's tokens outside the vocabulary, read as <unk>; truncated: utterances longer than %d tokens, of all %d", o.MaxLen, len(c.Utterances))
	if vectors != "" {
		fmt.Fprintf(w, "; vectors: the vocabulary's tokens, <pad> and <unk> aside, with a vector in %s", vectors)
	}
	fmt.Fprintf(w, ")\n")
	return nil
}

func writeCountRow(w io.Writer, name string, n [dataset.NumClasses]int) {
	total := 0
	fmt.Fprintf(w, "%s\t", name)
	for _, k := range n {
		fmt.Fprintf(w, "%d\t", k)
		total += k
	}
	fmt.Fprintf(w, "%d\t\n", total)
}

// meanWindow is the mean number of turns of the dialog windows of items.
func meanWindow(c *dataset.Corpus, items []int, window int) float64 {
	if len(items) == 0 {
		return 0
	}
	sum := 0
	for _, i := range items {
		sum += i - c.WindowStart(i, window) + 1
	}
	return float64(sum) / float64(len(items))
}
