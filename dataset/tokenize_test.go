package dataset

import (
	"reflect"
	"strings"
	"testing"
	"unicode"
)

// nltkCases are texts with the tokens that NLTK's NLTKWordTokenizer (3.8)
// gives for each of their sentences, lowercased: the reference outputs of
// word_tokenize, sentence by sentence.
var nltkCases = []struct {
	text string
	want []string
}{
	{"Don't do that.", []string{"do", "n't", "do", "that", "."}},
	{"I can't believe it!", []string{"i", "ca", "n't", "believe", "it", "!"}},
	{"I won't go.", []string{"i", "wo", "n't", "go", "."}},
	{"I'm fine, thanks.", []string{"i", "'m", "fine", ",", "thanks", "."}},
	{"It's true you're right we've seen I'll go I'd say.", []string{"it", "'s", "true", "you", "'re", "right", "we", "'ve", "seen", "i", "'ll", "go", "i", "'d", "say", "."}},
	{"I'm gonna do it, wanna come? We gotta go.", []string{"i", "'m", "gon", "na", "do", "it", ",", "wan", "na", "come", "?", "we", "got", "ta", "go", "."}},
	{"Wait... what?", []string{"wait", "...", "what", "?"}},
	{"Well-known facts, okay?", []string{"well-known", "facts", ",", "okay", "?"}},
	{"It costs $3.50, or 1,000 dollars at 10:30.", []string{"it", "costs", "$", "3.50", ",", "or", "1,000", "dollars", "at", "10:30", "."}},
	{`He said "hello" to me.`, []string{"he", "said", "``", "hello", "''", "to", "me", "."}},
	{`"Hello," she said.`, []string{"``", "hello", ",", "''", "she", "said", "."}},
	{"Hello. How are you?", []string{"hello", ".", "how", "are", "you", "?"}},
	{"Mr. Smith is here.", []string{"mr.", "smith", "is", "here", "."}},
	{"(laughs) okay", []string{"(", "laughs", ")", "okay"}},
	{"so--what", []string{"so", "--", "what"}},
	{"I cannot, gimme that, lemme see.", []string{"i", "can", "not", ",", "gim", "me", "that", ",", "lem", "me", "see", "."}},
	{"The U.S. is big.", []string{"the", "u.s.", "is", "big", "."}},
	{"I live in the U.S.", []string{"i", "live", "in", "the", "u.s", "."}},
	{"Note: this; 50% of #1 & a*b", []string{"note", ":", "this", ";", "50", "%", "of", "#", "1", "&", "a", "*", "b"}},
	{"James' car", []string{"james", "'", "car"}},
	{"They ain't here, are they?", []string{"they", "ai", "n't", "here", ",", "are", "they", "?"}},
	{"Yes..", []string{"yes", ".."}},
	{"Okay. Okay.", []string{"okay", ".", "okay", "."}},
	{"What?! No way!", []string{"what", "?", "!", "no", "way", "!"}},
	{"Is that, is that-that's just foam isn't it? I can't even tell", []string{"is", "that", ",", "is", "that-that", "'s", "just", "foam", "is", "n't", "it", "?", "i", "ca", "n't", "even", "tell"}},
	{"THEY'RE HERE, DON'T YOU SEE?", []string{"they", "'re", "here", ",", "do", "n't", "you", "see", "?"}},
	// The clitics 's 'm 'd are split whatever their case: ENDING_QUOTES'
	// ([^' ])('[sS]|'[mM]|'[dD]|') rule.
	{"HE'S SURE I'M RIGHT, I'D SAY.", []string{"he", "'s", "sure", "i", "'m", "right", ",", "i", "'d", "say", "."}},
	// 'n is a clitic of the opening quote rule's (?!re|ve|ll|m|t|s|d|n):
	// its quote is not split off.
	{"Rock 'n roll.", []string{"rock", "'n", "roll", "."}},
	{"<pad> {x} [y z]", []string{"<", "pad", ">", "{", "x", "}", "[", "y", "z", "]"}},
	{"e.g. this", []string{"e.g.", "this"}},
	{"we're gonna wanna", []string{"we", "'re", "gon", "na", "wan", "na"}},
	{"Oh, um... I don't know... Maybe.", []string{"oh", ",", "um", "...", "i", "do", "n't", "know", "...", "maybe", "."}},
	// The rarer rules, each worked through NLTK's regular expressions:
	// the contractions more'n, d'ye, 'tis and 'twas, the @ of the symbols,
	// a sentence's final comma, the upper-case clitics 'VE and 'LL, and a
	// closing single quote after a clitic, split off before the clitic is.
	{"I like it more'n you.", []string{"i", "like", "it", "more", "'n", "you", "."}},
	// The contractions' \b is Python's: a letter of any script is a word
	// character, so a word that runs on past them is not split (NLTK 3.8:
	// ['égonna'], ['cannotä'], ['ágimme', 'that'], ["'tisé"]), and one
	// that ends at a non-letter is.
	{"égonna cannotä Ágimme that 'tisé", []string{"égonna", "cannotä", "ágimme", "that", "'tisé"}},
	{"gonna² cannot_ (gonna) «cannot»", []string{"gonna²", "cannot_", "(", "gon", "na", ")", "«", "can", "not", "»"}},
	{"D'ye know?", []string{"d", "'ye", "know", "?"}},
	{"'Tis true, 'twas so.", []string{"'t", "is", "true", ",", "'t", "was", "so", "."}},
	{"Mail me@home now.", []string{"mail", "me", "@", "home", "now", "."}},
	{"Yes, and,", []string{"yes", ",", "and", ","}},
	{"I'VE SEEN IT, WE'LL GO.", []string{"i", "'ve", "seen", "it", ",", "we", "'ll", "go", "."}},
	{"She said 'he's' fine.", []string{"she", "said", "'he", "'s", "'", "fine", "."}},
	{"Good muffins cost $3.88\nin New York.  Please buy me\ntwo of them.\nThanks.", []string{"good", "muffins", "cost", "$", "3.88", "in", "new", "york", ".", "please", "buy", "me", "two", "of", "them", ".", "thanks", "."}},
}

func TestTokenizeNLTK(t *testing.T) {
	for _, tt := range nltkCases {
		if got := Tokenize(tt.text, TokenizerOptions{}); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Tokenize(%q)\n got %q\nwant %q", tt.text, got, tt.want)
		}
	}
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		name string
		text string
		opt  TokenizerOptions
		want []string
	}{
		{"empty", "", TokenizerOptions{}, nil},
		{"spaces only", " \t\n ", TokenizerOptions{}, nil},
		{"marks kept", "[LAUGHTER] Oh my god. [BREATHING]", TokenizerOptions{}, []string{"[laughter]", "oh", "my", "god", ".", "[breathing]"}},
		{"marks dropped", "[LAUGHTER] Oh my god. [BREATHING]", TokenizerOptions{DropNonSpeech: true}, []string{"oh", "my", "god", "."}},
		{"mark glued to words", "Hi[GARBAGE]okay", TokenizerOptions{}, []string{"hi", "[garbage]", "okay"}},
		{"lowercase mark", "[garbage] yes", TokenizerOptions{}, []string{"[garbage]", "yes"}},
		{"only a mark, dropped", "[LAUGHTER]", TokenizerOptions{DropNonSpeech: true}, nil},
		// Not checked against NLTK's English Punkt model (its data is not
		// on this machine): an untrained PunktSentenceTokenizer then
		// NLTKWordTokenizer give these. A word of punctuation alone that
		// ends in a period ends a sentence (no abbreviation, initial or
		// number), so its period is split off; within one sentence
		// NLTKWordTokenizer would keep "-." whole.
		{"punctuation word ending a sentence", "Wait -. Okay", TokenizerOptions{}, []string{"wait", "-", ".", "okay"}},
		{"two of them", "So -. -. Yes", TokenizerOptions{}, []string{"so", "-", ".", "-", ".", "yes"}},
		// Jr. is in the abbreviation list (see TestTokenizeAbbreviations):
		// NLTKWordTokenizer alone gives smith jr. went home . for it.
		{"abbreviation inside a sentence", "Smith Jr. went home.", TokenizerOptions{}, []string{"smith", "jr.", "went", "home", "."}},
		// A mark's name may hold digits, _ and - after its first letter.
		{"mark with a digit", "[NOISE1] hi", TokenizerOptions{}, []string{"[noise1]", "hi"}},
		{"mark with a digit, dropped", "[NOISE1] hi", TokenizerOptions{DropNonSpeech: true}, []string{"hi"}},
		{"mark with _ and -", "[LIP_SMACK-2] hi", TokenizerOptions{}, []string{"[lip_smack-2]", "hi"}},
		{"a digit first is not a mark", "[1NOISE] hi", TokenizerOptions{DropNonSpeech: true}, []string{"[", "1noise", "]", "hi"}},
		{"bracketed words are not a mark", "[some words]", TokenizerOptions{}, []string{"[", "some", "words", "]"}},
		// NLTK 3.8's opening single quote rule.
		{"opening single quote", "'Hello,' he said.", TokenizerOptions{}, []string{"'hello", ",", "'", "he", "said", "."}},
		{"quoted letters", "I said 'a' and 'x", TokenizerOptions{}, []string{"i", "said", "'", "a", "'", "and", "'", "x"}},
		{"'til and 'cause kept", "'Til then 'cause", TokenizerOptions{}, []string{"'til", "then", "'cause"}},
		{"clitic not split from its quote", "'s 're 'll", TokenizerOptions{}, []string{"'s", "'re", "'ll"}},
		{"em dash", "wait\u2014what", TokenizerOptions{}, []string{"wait", "\u2014", "what"}},
		{"unicode quotes", "\u201cHi\u201d", TokenizerOptions{}, []string{"\u201c", "hi", "\u201d"}},
		{"abbreviation then sentence", "Dr. Who? Yes.", TokenizerOptions{}, []string{"dr.", "who", "?", "yes", "."}},
		{"initial", "J. Smith came.", TokenizerOptions{}, []string{"j.", "smith", "came", "."}},
		{"I is not an initial", "So am I. Bored stiff.", TokenizerOptions{}, []string{"so", "am", "i", ".", "bored", "stiff", "."}},
		{"a is not an initial", "Take plan a. Then go.", TokenizerOptions{}, []string{"take", "plan", "a", ".", "then", "go", "."}},
		{"hyphenated word ending in a letter", "Buck-O. That helps.", TokenizerOptions{}, []string{"buck-o", ".", "that", "helps", "."}},
		{"hyphenated abbreviation", "ex-Mr. Smith", TokenizerOptions{}, []string{"ex-mr.", "smith"}},
		{"number then lowercase", "I said 5. and then", TokenizerOptions{}, []string{"i", "said", "5.", "and", "then"}},
		{"number then capital", "I said 5. Then", TokenizerOptions{}, []string{"i", "said", "5", ".", "then"}},
		// Only a lowercase word keeps a number's period: a digit does not.
		{"number then number", "I counted 5. 6 more.", TokenizerOptions{}, []string{"i", "counted", "5", ".", "6", "more", "."}},
		// The pronoun in lower case is no initial either.
		{"lowercase i is not an initial", "Yes i. Then go.", TokenizerOptions{}, []string{"yes", "i", ".", "then", "go", "."}},
		{"abbreviation vs.", "Cats vs. Dogs", TokenizerOptions{}, []string{"cats", "vs.", "dogs"}},
		// An ellipsis ends no sentence (Punkt's default): the '' after it
		// opens a quotation inside the sentence, as after any space.
		{"ellipsis then quote", "I don't know... ''maybe'' she said", TokenizerOptions{}, []string{"i", "do", "n't", "know", "...", "``", "maybe", "''", "she", "said"}},
		{"period inside quotes ends a sentence", `He said "Stop." Then left.`, TokenizerOptions{}, []string{"he", "said", "``", "stop", ".", "''", "then", "left", "."}},
		{"invalid UTF-8", "caf\xe9 ok", TokenizerOptions{}, []string{"caf\ufffd", "ok"}},
		{"newlines and tabs", "one\ttwo\nthree", TokenizerOptions{}, []string{"one", "two", "three"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Tokenize(tt.text, tt.opt)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Tokenize(%q, %+v)\n got %q\nwant %q", tt.text, tt.opt, got, tt.want)
			}
		})
	}
}

// abbreviationList is every word of abbreviations, written out: a word
// dropped from the set would go unnoticed by a test that ranged over the
// set itself.
var abbreviationList = []string{
	"mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr",
	"vs", "inc", "ltd", "co", "corp", "mt", "lt", "col",
	"gen", "gov", "sen", "rep", "rev", "messrs",
	"u.s", "u.k", "e.g", "i.e", "a.m", "p.m",
	"jan", "feb", "aug", "sept", "oct", "nov", "dec",
}

// TestTokenizeAbbreviations checks that no sentence ends at the period of
// any abbreviation (in lower case, title case and upper case): the period
// stays on the word, as one token, whatever follows, where a word outside
// the set ("x" and "yes" here) ends a sentence and has its period split
// off. It also checks that the list above and the set agree. (Before a
// capitalised word this is Tokenize's approximation of Punkt, which
// splits after some abbreviations there; see Tokenize.)
func TestTokenizeAbbreviations(t *testing.T) {
	for _, a := range abbreviationList {
		if !abbreviations[a] {
			t.Errorf("%q is not in abbreviations", a)
		}
		for _, w := range []string{a, strings.ToUpper(a[:1]) + a[1:], strings.ToUpper(a)} {
			for _, next := range []string{"y", "Y"} {
				text := "x " + w + ". " + next
				want := []string{"x", a + ".", strings.ToLower(next)}
				if got := Tokenize(text, TokenizerOptions{}); !reflect.DeepEqual(got, want) {
					t.Errorf("Tokenize(%q) = %q, want %q: the abbreviation's period ends no sentence", text, got, want)
				}
			}
		}
	}
	listed := make(map[string]bool, len(abbreviationList))
	for _, a := range abbreviationList {
		listed[a] = true
	}
	for a := range abbreviations {
		if !listed[a] {
			t.Errorf("abbreviations has %q, which abbreviationList lacks: add it there", a)
		}
	}
	// A word outside the set ends its sentence: its period is split off.
	if got, want := Tokenize("x yes. y", TokenizerOptions{}), []string{"x", "yes", ".", "y"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Tokenize(%q) = %q, want %q", "x yes. y", got, want)
	}
}

// checkTokens checks the invariants of Tokenize's output for text.
func checkTokens(t *testing.T, text string) {
	t.Helper()
	keep := Tokenize(text, TokenizerOptions{})
	for _, tok := range keep {
		if tok == "" {
			t.Fatalf("Tokenize(%q) has an empty token: %q", text, keep)
		}
		if strings.ContainsFunc(tok, unicode.IsSpace) {
			t.Fatalf("Tokenize(%q) has a token with a space: %q", text, tok)
		}
		if strings.ToLower(tok) != tok {
			t.Fatalf("Tokenize(%q) has a token not in lowercase: %q", text, tok)
		}
	}
	if again := Tokenize(text, TokenizerOptions{}); !reflect.DeepEqual(again, keep) {
		t.Fatalf("Tokenize(%q) is not deterministic: %q then %q", text, keep, again)
	}
	// Dropping marks removes exactly the mark tokens.
	var want []string
	for _, tok := range keep {
		if !nonSpeechMark.MatchString(tok) || nonSpeechMark.FindString(tok) != tok {
			want = append(want, tok)
		}
	}
	if got := Tokenize(text, TokenizerOptions{DropNonSpeech: true}); !reflect.DeepEqual(got, want) {
		t.Fatalf("Tokenize(%q, DropNonSpeech) = %q, want %q", text, got, want)
	}
}

func FuzzTokenize(f *testing.F) {
	for _, tt := range nltkCases {
		f.Add(tt.text)
	}
	for _, s := range []string{"", " ", "[LAUGHTER]", "[", "]", "[[A]]", "''", "``", "'", "\"", "...", "a.", ".a", "--", "'re", "İ", "\u00a0x\u2028y", "\xff\xfe", "n't", "can'tcannot", "Mr.", "\u0130stanbul."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		checkTokens(t, text)
	})
}
