package dataset

import (
	"bufio"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The columns a transcript CSV must have (in any order; other columns such as
// Valence, Activation and Dominance are ignored).
const (
	colDialog    = "Dialogue_ID"
	colUtterance = "Utterance_Id"
	colText      = "Utterance"
	colEmotion   = "Emotion"
)

// csvLabels maps every Emotion value that IEMOCAP defines to a class: the
// four classes (exc merged into happy) and the context-only labels. Any
// other value is an error.
var csvLabels = map[string]Label{
	"ang": Angry,
	"hap": Happy,
	"exc": Happy,
	"neu": Neutral,
	"sad": Sad,
	"fru": NoLabel,
	"sur": NoLabel,
	"fea": NoLabel,
	"dis": NoLabel,
	"oth": NoLabel,
	"xxx": NoLabel,
}

// csvRow is an utterance with the place it was read from, for messages.
type csvRow struct {
	Utterance
	file string
	line int
	num  int // the turn number at the end of the utterance ID (F000 → 0)
}

func (r *csvRow) where() string { return fmt.Sprintf("%s: line %d", r.file, r.line) }

// ReadCSV reads one IEMOCAP transcript CSV with utterance IDs (the SILICONE
// layout: Dialogue_ID,Utterance_Id,Utterance,Emotion,…) and returns its
// utterances in file order, each with its session, dialog, speaker and
// gender derived from the utterance ID. Turn is left zero: it is the
// position in the dialog, which only a whole corpus knows (see LoadCSV).
//
// Every defined Emotion (ang, hap, exc, neu, sad, fru, sur, fea, dis, oth,
// xxx) is accepted: exc becomes Happy, the values outside the four classes
// become NoLabel context turns. An undefined emotion, a missing column, a
// malformed ID, a duplicate ID, bad quoting, a labelled utterance with
// empty text or text that is not UTF-8 (a UTF-16 file included) is an
// error naming the file (and line). A context-only turn may
// have empty text: it then stays in its dialog as an empty turn.
func ReadCSV(path string) ([]Utterance, error) {
	rows, err := readCSVFile(path)
	if err != nil {
		return nil, err
	}
	us := make([]Utterance, len(rows))
	for i := range rows {
		us[i] = rows[i].Utterance
	}
	return us, nil
}

func readCSVFile(path string) ([]csvRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	rows, err := readCSV(f, path)
	if err != nil {
		return nil, fmt.Errorf("read %w", err)
	}
	return rows, nil
}

// readCSV parses a transcript CSV from r; name is the file name used in
// messages. Its errors start with the name.
func readCSV(r io.Reader, name string) ([]csvRow, error) {
	// A UTF-8 byte order mark (Excel's and pandas' utf-8-sig) goes before
	// the parser sees it: in front of a quoted header it is a parse error.
	br := bufio.NewReader(r)
	if bom, _ := br.Peek(3); string(bom) == "\ufeff" {
		br.Discard(3)
	}
	// A UTF-16 file (Excel's "Unicode Text", pandas' encoding="utf-16")
	// would parse as a header of "D\x00i\x00…", missing every column.
	if bom, _ := br.Peek(2); string(bom) == "\xff\xfe" || string(bom) == "\xfe\xff" {
		return nil, fmt.Errorf("%s: a UTF-16 file (byte order mark 0x%x): save the file as UTF-8", name, bom)
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty file, want a header %s,%s,%s,%s", name, colDialog, colUtterance, colText, colEmotion)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	cols, err := csvColumns(header)
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	var rows []csvRow
	seen := make(map[string]int) // utterance ID → line
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s: line %d: %w", name, pe.StartLine, pe.Err)
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		row := csvRow{file: name, line: line}
		if err := row.parse(rec, cols); err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", name, line, err)
		}
		if prev, ok := seen[row.ID]; ok {
			return nil, fmt.Errorf("%s: line %d: duplicate utterance ID %q (first on line %d)", name, line, row.ID, prev)
		}
		seen[row.ID] = line
		rows = append(rows, row)
	}
	return rows, nil
}

// csvColumns returns the positions of the four required columns.
func csvColumns(header []string) ([4]int, error) {
	want := [4]string{colDialog, colUtterance, colText, colEmotion}
	cols := [4]int{-1, -1, -1, -1}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		for j, w := range want {
			if !strings.EqualFold(h, w) {
				continue
			}
			if cols[j] >= 0 {
				return cols, fmt.Errorf("column %q appears twice", w)
			}
			cols[j] = i
		}
	}
	var missing []string
	for j, c := range cols {
		if c < 0 {
			missing = append(missing, strconv.Quote(want[j]))
		}
	}
	if len(missing) > 0 {
		return cols, fmt.Errorf("missing column %s (want %s,%s,%s,%s)", strings.Join(missing, ", "), colDialog, colUtterance, colText, colEmotion)
	}
	return cols, nil
}

// parse fills r from one record.
func (r *csvRow) parse(rec []string, cols [4]int) error {
	dialog := strings.TrimSpace(rec[cols[0]])
	id := strings.TrimSpace(rec[cols[1]])
	text := rec[cols[2]]
	raw := strings.TrimSpace(rec[cols[3]])
	if id == "" {
		return fmt.Errorf("empty %s", colUtterance)
	}
	ses, gender, idDialog, num, err := parseUtteranceID(id)
	if err != nil {
		return err
	}
	if dialog != idDialog {
		return fmt.Errorf("%s %q does not match utterance ID %q (want %q)", colDialog, dialog, id, idDialog)
	}
	if err := validText(text); err != nil {
		return fmt.Errorf("utterance %s: %w", id, err)
	}
	label, ok := csvLabels[strings.ToLower(raw)]
	if !ok {
		return fmt.Errorf("utterance %s: undefined emotion %q (want one of ang, hap, exc, neu, sad, fru, sur, fea, dis, oth, xxx)", id, raw)
	}
	if label != NoLabel && strings.TrimSpace(text) == "" {
		return fmt.Errorf("utterance %s: empty text for a labelled utterance (%s)", id, raw)
	}
	r.Utterance = Utterance{
		ID:       id,
		Dialog:   dialog,
		Session:  ses,
		Speaker:  fmt.Sprintf("Ses%02d%c", ses, gender),
		Gender:   gender,
		Text:     text,
		Label:    label,
		RawLabel: raw,
	}
	r.num = num
	return nil
}

// validText checks that a text is UTF-8. Other bytes would reach the
// tokenizer as U+FFFD: every accented word of a Latin-1 file would
// become one token, unlike the same words typed to predict.
func validText(text string) error {
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		if r == utf8.RuneError && n == 1 {
			near := strings.ToValidUTF8(text[max(i-20, 0):min(i+20, len(text))], "?")
			return fmt.Errorf("text is not valid UTF-8 (byte %d of the text is 0x%02x, in %q): save the file as UTF-8", i+1, text[i], near)
		}
		i += n
	}
	return nil
}

// parseUtteranceID splits an IEMOCAP utterance ID such as
// Ses01F_script02_1b_M013 into its session (1), the speaker's gender (M),
// its dialog (Ses01F_script02_1b) and the speaker's turn number (13).
func parseUtteranceID(id string) (session int, gender byte, dialog string, num int, err error) {
	bad := func(why string) error {
		return fmt.Errorf("malformed utterance ID %q: %s (want Ses<01-05><F|M>_<dialog>_<F|M><number>, e.g. Ses01F_impro01_M003)", id, why)
	}
	if len(id) < len("Ses01F_x_F0") || !strings.HasPrefix(id, "Ses") {
		return 0, 0, "", 0, bad("no Ses prefix")
	}
	s, err := strconv.Atoi(id[3:5])
	if err != nil || id[3] < '0' || id[3] > '9' || id[4] < '0' || id[4] > '9' {
		return 0, 0, "", 0, bad("no two-digit session")
	}
	if s < 1 || s > 5 {
		return 0, 0, "", 0, bad(fmt.Sprintf("session %d outside 1–5", s))
	}
	if lead := id[5]; lead != 'F' && lead != 'M' {
		return 0, 0, "", 0, bad("no F or M after the session")
	}
	if id[6] != '_' {
		return 0, 0, "", 0, bad("no _ after the session")
	}
	cut := strings.LastIndexByte(id, '_')
	if cut <= 7 {
		return 0, 0, "", 0, bad("no dialog name")
	}
	tail := id[cut+1:]
	if len(tail) < 2 || (tail[0] != 'F' && tail[0] != 'M') {
		return 0, 0, "", 0, bad("the last part does not start with F or M")
	}
	for i := 1; i < len(tail); i++ {
		if tail[i] < '0' || tail[i] > '9' {
			return 0, 0, "", 0, bad("the last part is not F or M and a number")
		}
	}
	n, err := strconv.Atoi(tail[1:])
	if err != nil {
		return 0, 0, "", 0, bad("turn number out of range")
	}
	return s, tail[0], id[:cut], n, nil
}

// LoadCSV loads IEMOCAP transcript CSVs with utterance IDs into a corpus.
// Each path is a CSV file or a folder whose *.csv files are all read (in
// name order; e.g. train.csv, dev.csv and test.csv). The utterances are
// regrouped by dialog: dialogs sorted by session and dialog ID, the turns of
// a dialog in file order (the files list them in conversation order), and
// each speaker's turn numbers must increase along a dialog. Speakers and
// dialogs are known.
func LoadCSV(paths []string) (*Corpus, error) {
	if len(paths) == 0 {
		return nil, errors.New("load CSV: no path")
	}
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("load CSV: %w", err)
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		found, err := csvFiles(p)
		if err != nil {
			return nil, fmt.Errorf("load CSV: %w", err)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("load CSV: %s: no .csv files in the folder", p)
		}
		files = append(files, found...)
	}
	var rows []csvRow
	seen := make(map[string]*csvRow)
	for _, f := range files {
		rs, err := readCSVFile(f)
		if err != nil {
			return nil, fmt.Errorf("load CSV: %w", err)
		}
		for i := range rs {
			if prev, ok := seen[rs[i].ID]; ok {
				return nil, fmt.Errorf("load CSV: %s: duplicate utterance ID %q (first at %s)", rs[i].where(), rs[i].ID, prev.where())
			}
			seen[rs[i].ID] = &rs[i]
		}
		rows = append(rows, rs...)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("load CSV: %s: no utterances", strings.Join(files, ", "))
	}
	us, err := groupDialogs(rows)
	if err != nil {
		return nil, fmt.Errorf("load CSV: %w", err)
	}
	return &Corpus{
		Source:      "CSV " + strings.Join(paths, ", "),
		Utterances:  us,
		HasSpeakers: true,
		HasDialogs:  true,
	}, nil
}

// csvFiles lists the .csv files directly inside dir, sorted by name.
func csvFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range ents {
		if !strings.EqualFold(filepath.Ext(e.Name()), ".csv") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		mode, err := followedType(path, e)
		if err != nil {
			return nil, err
		}
		if mode.IsRegular() {
			files = append(files, path)
		}
	}
	return files, nil
}

// followedType is the type of the directory entry e at path, a symbolic
// link's being that of what it names (data is linked in, not copied).
func followedType(path string, e fs.DirEntry) (fs.FileMode, error) {
	if e.Type()&fs.ModeSymlink == 0 {
		return e.Type(), nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Mode().Type(), nil
}

// groupDialogs orders rows by (session, dialog), keeping the row order
// within a dialog, numbers the turns, and checks that each speaker's turn
// numbers increase along the dialog.
func groupDialogs(rows []csvRow) ([]Utterance, error) {
	slices.SortStableFunc(rows, func(a, b csvRow) int {
		return cmp.Or(cmp.Compare(a.Session, b.Session), strings.Compare(a.Dialog, b.Dialog))
	})
	us := make([]Utterance, len(rows))
	turn := 0
	last := map[byte]*csvRow{} // the previous turn of each gender in the current dialog
	for i := range rows {
		r := &rows[i]
		if i == 0 || r.Dialog != rows[i-1].Dialog {
			turn = 0
			clear(last)
		}
		if p := last[r.Gender]; p != nil && r.num <= p.num {
			return nil, fmt.Errorf("%s: utterance %s comes after %s (%s) in dialog %s: the speaker's turn numbers must increase", r.where(), r.ID, p.ID, p.where(), r.Dialog)
		}
		last[r.Gender] = r
		us[i] = r.Utterance
		us[i].Turn = turn
		turn++
	}
	return us, nil
}
