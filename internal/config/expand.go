package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxExpandDepth bounds nesting of references inside defaults and file
// paths, such as ${A:-${B:-x}}.
const maxExpandDepth = 8

// maxSecretFileSize bounds what ${file:...} reads, so that a path such as
// /dev/zero cannot exhaust memory.
const maxSecretFileSize = 1 << 20

// expand expands ${...} references and $$ escapes in a scalar value,
// reporting problems against path and line.
func (d *decoder) expand(s, path string, line int) (string, bool) {
	if !strings.Contains(s, "$") {
		return s, true
	}
	out, err := d.expandString(s, 0)
	if err != nil {
		d.errorf(line, path, "%v", err)
		return "", false
	}
	return out, true
}

func (d *decoder) expandString(s string, depth int) (string, error) {
	if depth > maxExpandDepth {
		return "", fmt.Errorf("references are nested more than %d deep", maxExpandDepth)
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c != '$':
			b.WriteByte(c)
			i++
		case i+1 < len(s) && s[i+1] == '$':
			b.WriteByte('$')
			i += 2
		case i+1 < len(s) && s[i+1] == '{':
			end := closingBrace(s, i+2)
			if end < 0 {
				return "", errors.New(`unterminated "${" (missing "}"); write "$$" for a literal "$"`)
			}
			val, err := d.resolveRef(s[i+2:end], depth)
			if err != nil {
				return "", err
			}
			b.WriteString(val)
			i = end + 1
		default:
			b.WriteByte('$') // a lone $ is literal
			i++
		}
	}
	return b.String(), nil
}

// closingBrace returns the index of the "}" closing a reference whose body
// starts at start, allowing nested references, or -1.
func closingBrace(s string, start int) int {
	depth := 1
	for i := start; i < len(s); i++ {
		switch {
		case s[i] == '$' && i+1 < len(s) && s[i+1] == '$':
			i++
		case s[i] == '$' && i+1 < len(s) && s[i+1] == '{':
			depth++
			i++
		case s[i] == '}':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return -1
}

// resolveRef resolves the body of one ${...} reference.
func (d *decoder) resolveRef(ref string, depth int) (string, error) {
	if p, ok := strings.CutPrefix(ref, "file:"); ok {
		return d.readFileRef(p, depth)
	}
	n := 0
	for n < len(ref) && (ref[n] == '_' || 'a' <= ref[n] && ref[n] <= 'z' || 'A' <= ref[n] && ref[n] <= 'Z' || n > 0 && '0' <= ref[n] && ref[n] <= '9') {
		n++
	}
	name, rest := ref[:n], ref[n:]
	if name == "" {
		return "", errors.New(`invalid reference "${...}": expected ${NAME}, ${NAME:-default} or ${file:/path}, where NAME is letters, digits and '_' not starting with a digit; write "$$" for a literal "$"`)
	}
	val, set := d.opts.lookupEnv(name)
	switch {
	case rest == "":
		if !set {
			return "", fmt.Errorf("environment variable %s is not set; set it, or give a default with ${%s:-default}", name, name)
		}
		return val, nil
	case strings.HasPrefix(rest, ":-"):
		if set && val != "" {
			return val, nil
		}
		return d.expandString(rest[2:], depth+1)
	case strings.HasPrefix(rest, "-"):
		if set {
			return val, nil
		}
		return d.expandString(rest[1:], depth+1)
	default:
		return "", fmt.Errorf("invalid reference to %s: expected ${%s}, ${%s:-default} or ${%s-default}", name, name, name, name)
	}
}

// readFileRef reads a ${file:path} reference.
func (d *decoder) readFileRef(p string, depth int) (string, error) {
	p, err := d.expandString(p, depth+1)
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", errors.New(`empty path in ${file:}; write ${file:/path/to/secret}`)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(d.dir, p)
	}
	data, err := d.opts.readFile(p)
	if err != nil {
		return "", fmt.Errorf("reading secret file: %w", err)
	}
	s := string(data)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	return s, nil
}

// readSecretFile reads a file of at most maxSecretFileSize bytes.
func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSecretFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxSecretFileSize)
	}
	return data, nil
}
