package dataset

import (
	"encoding/json"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// TokenizerOptions configures Tokenize.
type TokenizerOptions struct {
	// DropNonSpeech drops IEMOCAP's bracketed marks of non-speech sounds
	// ([LAUGHTER], [BREATHING], [GARBAGE], …). By default each is kept as
	// one lowercase token: "[laughter]".
	DropNonSpeech bool `json:"drop_non_speech"`
}

// UnmarshalJSON reads TokenizerOptions in JSON, snake_case or with the Go
// field name of runs written before (DropNonSpeech).
func (o *TokenizerOptions) UnmarshalJSON(b []byte) error {
	type plain TokenizerOptions // without this method
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var old struct{ DropNonSpeech *bool }
	if err := json.Unmarshal(b, &old); err != nil {
		return err
	}
	if old.DropNonSpeech != nil {
		p.DropNonSpeech = *old.DropNonSpeech
	}
	*o = TokenizerOptions(p)
	return nil
}

// Tokenize splits a transcript into lowercase word tokens the way NLTK's
// word_tokenize does (Punkt sentence splitting, then the Treebank rules of
// NLTKWordTokenizer: NLTK 3.9's, which split off the dashes U+2012–U+2015,
// with 3.8's opening single quote rule, so that 'cause stays one token).
// Of the 10,039 IEMOCAP transcripts, 10,025 give exactly NLTK 3.8's
// word_tokenize tokens with its English Punkt model; the 14 others differ
// in Punkt's sentence splits (L.A., U.S.C.?, Mr. before a capitalised
// word), none in the word rules:
//
//   - punctuation is split off: . , ? ! ; : ( ) [ ] { } < > " * @ # $ % & and
//     dashes (-- and U+2012–U+2015); a sentence's final period is split off,
//     but not the period of an abbreviation (mr., e.g., u.s.) inside one;
//   - a double quote becomes two backquotes when it opens a quotation and
//     two single quotes when it closes one, as in the Penn Treebank;
//   - contractions are split: don't → do n't, can't → ca n't, won't → wo n't,
//     I'm → i 'm, it's → it 's, you're → you 're, we've → we 've, I'll →
//     i 'll, I'd → i 'd, gonna → gon na, wanna → wan na, gotta → got ta,
//     cannot → can not, gimme → gim me, lemme → lem me;
//   - runs of periods (..., ..) are one token; hyphenated words, and numbers
//     with . , or : inside (3.50, 1,000, 10:30), are kept whole.
//
// Tokens are then lowercased. Punkt's sentence splitting is approximated:
// a period that ends a word followed by another word ends a sentence,
// unless the word is a common abbreviation or a single letter other than I
// and a (an initial), or is a number followed by a lowercase word.
//
// IEMOCAP's bracketed marks ([LAUGHTER], [BREATHING]) are not split: each
// is one token, lowercased, or is dropped with opt.DropNonSpeech.
//
// Tokenize never returns empty tokens or tokens with spaces, and is
// deterministic.
func Tokenize(text string, opt TokenizerOptions) []string {
	text = strings.ToValidUTF8(text, "\uFFFD")
	var toks []string
	for {
		loc := nonSpeechMark.FindStringIndex(text)
		if loc == nil {
			break
		}
		toks = tokenizeSpeech(toks, text[:loc[0]])
		if !opt.DropNonSpeech {
			toks = append(toks, strings.ToLower(text[loc[0]:loc[1]]))
		}
		text = text[loc[1]:]
	}
	return tokenizeSpeech(toks, text)
}

// nonSpeechMark matches IEMOCAP's marks of non-speech sounds.
var nonSpeechMark = regexp.MustCompile(`\[[A-Za-z][A-Za-z0-9_-]*\]`)

// tokenizeSpeech appends the lowercased tokens of text to toks.
func tokenizeSpeech(toks []string, text string) []string {
	for _, s := range sentences(text) {
		for _, t := range treebank(s) {
			toks = append(toks, strings.ToLower(t))
		}
	}
	return toks
}

// abbreviations are words whose final period does not end a sentence
// (lowercase, without the period), after Punkt's English model.
var abbreviations = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "dr": true, "prof": true, "st": true, "jr": true, "sr": true,
	"vs": true, "inc": true, "ltd": true, "co": true, "corp": true, "mt": true, "lt": true, "col": true,
	"gen": true, "gov": true, "sen": true, "rep": true, "rev": true, "messrs": true,
	"u.s": true, "u.k": true, "e.g": true, "i.e": true, "a.m": true, "p.m": true,
	"jan": true, "feb": true, "aug": true, "sept": true, "oct": true, "nov": true, "dec": true,
}

// sentenceClosers may follow a sentence's final punctuation.
const sentenceClosers = `"')]}»”’`

// sentences splits text into sentences, approximating Punkt: a word ending
// in . ? or ! (then maybe closing quotes or brackets) ends a sentence when
// another word follows, unless its period is that of an abbreviation, an
// initial, or of a number followed by a lowercase word. Whitespace is
// normalised to single spaces.
func sentences(text string) []string {
	words := strings.Fields(text)
	var out []string
	start := 0
	for i := 0; i < len(words)-1; i++ {
		if endsSentence(words[i], words[i+1]) {
			out = append(out, strings.Join(words[start:i+1], " "))
			start = i + 1
		}
	}
	if start < len(words) {
		out = append(out, strings.Join(words[start:], " "))
	}
	return out
}

func endsSentence(word, next string) bool {
	w := strings.TrimRight(word, sentenceClosers)
	switch {
	case strings.HasSuffix(w, "?") || strings.HasSuffix(w, "!"):
		return true
	case !strings.HasSuffix(w, ".") || strings.HasSuffix(w, ".."):
		return false
	}
	stem := strings.TrimLeftFunc(w[:len(w)-1], func(r rune) bool { return !isWordRune(r) })
	if stem == "" {
		return true
	}
	last := stem
	if i := strings.LastIndexByte(last, '-'); i >= 0 {
		last = last[i+1:]
	}
	if abbreviations[strings.ToLower(last)] {
		return false
	}
	if r, n := utf8.DecodeRuneInString(stem); n == len(stem) && unicode.IsLetter(r) && r != 'I' && r != 'i' && r != 'a' {
		return false // an initial (the pronoun I and the article a are not)
	}
	if isDigits(stem) {
		r, _ := utf8.DecodeRuneInString(next)
		return !unicode.IsLower(r)
	}
	return true
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// isWordRune reports whether r is a word character as Python's \w sees it.
func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

// rule is one substitution of the Treebank tokenizer.
type rule struct {
	re   *regexp.Regexp
	repl string
}

func rules(pairs ...string) []rule {
	rs := make([]rule, len(pairs)/2)
	for i := range rs {
		rs[i] = rule{regexp.MustCompile(pairs[2*i]), pairs[2*i+1]}
	}
	return rs
}

func apply(s string, rs []rule) string {
	for _, r := range rs {
		s = r.re.ReplaceAllString(s, r.repl)
	}
	return s
}

// The rules of NLTK's NLTKWordTokenizer, in its order (as of NLTK 3.9,
// except for openingQuotes). Go's regexp lacks look-around: the opening
// single quote rule is openingQuotes, and the (?=\s) of wanna is matched
// and put back.
var (
	startingQuotes = rules(
		"([«“‘„]|`+)", " ${1} ",
		`^"`, "``",
		"(``)", " ${1} ",
		`([ (\[{<])("|'')`, "${1} `` ",
	)
	punctuation = rules(
		`([^.])(\.)([\])}>"'»”’ ]*)\s*$`, "${1} ${2} ${3} ",
		`([:,])([^\d])`, " ${1} ${2}",
		`([:,])$`, " ${1} ",
		`\.{2,}`, " ${0} ",
		`[;@#$%&]`, " ${0} ",
		`[\x{2012}-\x{2015}]`, " ${0} ",
		`([^.])(\.)([\])}>"']*)\s*$`, "${1} ${2}${3} ",
		`[?!]`, " ${0} ",
		`([^'])' `, "${1} ' ",
		`[*]`, " ${0} ",
		`[\]\[(){}<>]`, " ${0} ",
		`--`, " -- ",
	)
	endingQuotes = rules(
		`([»”’])`, " ${1} ",
		`''`, " '' ",
		`"`, " '' ",
		`\s+`, " ",
		`([^' ])('[sS]|'[mM]|'[dD]|') `, "${1} ${2} ",
		`([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) `, "${1} ${2} ",
	)
	// NLTK's contraction rules begin and end at \b, Python's word
	// boundary, between a Unicode letter, digit or _ (isWordRune) and
	// anything else; Go's \b knows only ASCII ones (é\bgonna), so the
	// boundaries are the rules' own (wordBounded).
	contractions = []wordBounded{
		{rule{regexp.MustCompile(`(?i)(can)(not)`), " ${1} ${2} "}, true, true},
		{rule{regexp.MustCompile(`(?i)(d)('ye)`), " ${1} ${2} "}, true, true},
		{rule{regexp.MustCompile(`(?i)(gim)(me)`), " ${1} ${2} "}, true, true},
		{rule{regexp.MustCompile(`(?i)(gon)(na)`), " ${1} ${2} "}, true, true},
		{rule{regexp.MustCompile(`(?i)(got)(ta)`), " ${1} ${2} "}, true, true},
		{rule{regexp.MustCompile(`(?i)(lem)(me)`), " ${1} ${2} "}, true, true},
		{rule{regexp.MustCompile(`(?i)(more)('n)`), " ${1} ${2} "}, true, true},
		{rule{regexp.MustCompile(`(?i)(wan)(na)(\s)`), " ${1} ${2} ${3}"}, true, false},
		{rule{regexp.MustCompile(`(?i) ('t)(is)`), " ${1} ${2} "}, false, true},
		{rule{regexp.MustCompile(`(?i) ('t)(was)`), " ${1} ${2} "}, false, true},
	}
)

// wordBounded is a rule whose match must begin (start) and end (end) at a
// word boundary in Python's sense: a word rune on one side and none on the
// other. Its pattern begins and ends with a word rune where it asks for
// one, so the boundary is that the rune outside is not one.
type wordBounded struct {
	rule
	start, end bool
}

func (w wordBounded) apply(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range w.re.FindAllStringSubmatchIndex(s, -1) {
		if w.start && m[0] > 0 {
			if r, _ := utf8.DecodeLastRuneInString(s[:m[0]]); isWordRune(r) {
				continue
			}
		}
		if w.end && m[1] < len(s) {
			if r, _ := utf8.DecodeRuneInString(s[m[1]:]); isWordRune(r) {
				continue
			}
		}
		b.WriteString(s[last:m[0]])
		b.Write(w.re.ExpandString(nil, w.repl, s, m))
		last = m[1]
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// treebank tokenizes one sentence with NLTKWordTokenizer's rules, keeping
// case.
func treebank(s string) []string {
	s = apply(s, startingQuotes)
	s = openingQuotes(s)
	s = apply(s, punctuation)
	s = apply(" "+s+" ", endingQuotes)
	for _, c := range contractions {
		s = c.apply(s)
	}
	return strings.Fields(s)
}

// openingQuotes is NLTK 3.8's rule (?i)(\')(?!re|ve|ll|m|t|s|d|n)(\w)\b →
// "\1 \2": a single quote before a one-letter word other than a clitic
// ('a → ' a). NLTK 3.9 replaced it with one that splits the quote off any
// word it opens ('cause → ' cause); the older rule is kept here, so that
// 'cause and 'til stay one token, and so that the output can be checked
// against the NLTK that Linux distributions ship.
func openingQuotes(s string) string {
	if !strings.Contains(s, "'") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i, r := range s {
		b.WriteRune(r)
		if r != '\'' {
			continue
		}
		next, n := utf8.DecodeRuneInString(s[i+1:])
		if n == 0 || !isWordRune(next) || isClitic(next) {
			continue
		}
		after, m := utf8.DecodeRuneInString(s[i+1+n:])
		if m == 0 || !isWordRune(after) {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// isClitic reports whether r is a one-letter clitic ('m 't 's 'd 'n).
func isClitic(r rune) bool {
	switch unicode.ToLower(r) {
	case 'm', 't', 's', 'd', 'n':
		return true
	}
	return false
}
