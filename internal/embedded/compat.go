package embedded

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// This file implements Avro schema resolution as a compatibility check:
// can a reader using one schema decode data written with another? The rules
// follow the Avro specification's "Schema Resolution" section and the Java
// SchemaCompatibility class that Confluent's registry uses, including its
// incompatibility types and its leniencies (record names compare by simple
// name, so moving a record between namespaces is compatible; logical types
// are not compared).

// compatLevel is a Confluent compatibility level.
type compatLevel string

// The compatibility levels Confluent's registry supports.
const (
	compatNone               compatLevel = "NONE"
	compatBackward           compatLevel = "BACKWARD"
	compatBackwardTransitive compatLevel = "BACKWARD_TRANSITIVE"
	compatForward            compatLevel = "FORWARD"
	compatForwardTransitive  compatLevel = "FORWARD_TRANSITIVE"
	compatFull               compatLevel = "FULL"
	compatFullTransitive     compatLevel = "FULL_TRANSITIVE"

	defaultCompatLevel = compatBackward
)

// parseCompatLevel parses a level, case-insensitively.
func parseCompatLevel(s string) (compatLevel, bool) {
	l := compatLevel(strings.ToUpper(strings.TrimSpace(s)))
	switch l {
	case compatNone, compatBackward, compatBackwardTransitive, compatForward,
		compatForwardTransitive, compatFull, compatFullTransitive:
		return l, true
	}
	return "", false
}

// backward reports whether the new schema must read data of old ones.
func (l compatLevel) backward() bool {
	return l == compatBackward || l == compatBackwardTransitive || l == compatFull || l == compatFullTransitive
}

// forward reports whether old schemas must read data of the new one.
func (l compatLevel) forward() bool {
	return l == compatForward || l == compatForwardTransitive || l == compatFull || l == compatFullTransitive
}

// transitive reports whether every earlier version is checked, rather than
// only the latest.
func (l compatLevel) transitive() bool {
	return l == compatBackwardTransitive || l == compatForwardTransitive || l == compatFullTransitive
}

// incompatibility types, as named by Avro's Java SchemaCompatibility (and
// so by Confluent's error messages).
const (
	incompatNameMismatch       = "NAME_MISMATCH"
	incompatFixedSizeMismatch  = "FIXED_SIZE_MISMATCH"
	incompatMissingEnumSymbols = "MISSING_ENUM_SYMBOLS"
	incompatReaderFieldNoDflt  = "READER_FIELD_MISSING_DEFAULT_VALUE"
	incompatTypeMismatch       = "TYPE_MISMATCH"
	incompatMissingUnionBranch = "MISSING_UNION_BRANCH"
)

// incompatibility is one reason a reader cannot read a writer's data.
type incompatibility struct {
	kind string
	// path is the location in the reader schema, as a JSON-pointer-like
	// path ("/fields/1/type").
	path string
	desc string
	info string
}

// String formats the incompatibility the way Confluent's registry does in
// compatibility messages.
func (i incompatibility) String() string {
	return fmt.Sprintf("{errorType:'%s', description:'%s', additionalInfo:'%s'}", i.kind, i.desc, i.info)
}

// resolutionChecker checks reader/writer resolution for one pair of root
// schemas. readerRole and writerRole ("new schema", "old schema") make the
// descriptions readable in either direction.
type resolutionChecker struct {
	readerRole, writerRole string
	issues                 []incompatibility
	// active holds named-type pairs being checked, so recursive types
	// terminate: a pair already under check is assumed compatible, and
	// any real problem is reported where the recursion started.
	active map[[2]*avroNode]bool
}

// checkResolution returns why a reader using reader cannot read data
// written with writer; nil means it can.
func checkResolution(reader, writer *avroNode, readerRole, writerRole string) []incompatibility {
	c := &resolutionChecker{
		readerRole: readerRole,
		writerRole: writerRole,
		active:     map[[2]*avroNode]bool{},
	}
	c.check(reader, writer, "")
	return c.issues
}

func (c *resolutionChecker) reader() string { return c.readerRole + " (reader)" }
func (c *resolutionChecker) writer() string { return c.writerRole + " (writer)" }

func (c *resolutionChecker) add(kind, path, info, format string, args ...any) {
	c.issues = append(c.issues, incompatibility{
		kind: kind,
		path: pathOrRoot(path),
		desc: fmt.Sprintf(format, args...),
		info: info,
	})
}

// check reports whether reader can read writer's data, recording issues.
func (c *resolutionChecker) check(reader, writer *avroNode, path string) bool {
	if reader.typ.named() && writer.typ.named() {
		pair := [2]*avroNode{reader, writer}
		if c.active[pair] {
			return true
		}
		c.active[pair] = true
		defer delete(c.active, pair)
	}

	// A writer union is readable if every one of its branches is: the
	// data may be any branch.
	if writer.typ == avroUnion {
		ok := true
		for i, wb := range writer.branches {
			if reader.typ == avroUnion {
				if !c.anyBranchReads(reader, wb) {
					c.add(incompatMissingUnionBranch, path, wb.displayName(),
						"The union at path '%s' in the %s has no branch that can read the %s branch (union index %d) of the %s",
						pathOrRoot(path), c.reader(), wb.displayName(), i, c.writer())
					ok = false
				}
				continue
			}
			if !c.quiet(reader, wb) {
				c.add(incompatMissingUnionBranch, path, wb.displayName(),
					"The %s at path '%s' in the %s cannot read the %s branch (union index %d) of the union in the %s",
					reader.displayName(), pathOrRoot(path), c.reader(), wb.displayName(), i, c.writer())
				ok = false
			}
		}
		return ok
	}

	// A reader union reads a non-union writer if some branch does.
	if reader.typ == avroUnion {
		if c.anyBranchReads(reader, writer) {
			return true
		}
		c.add(incompatMissingUnionBranch, path, writer.displayName(),
			"The union at path '%s' in the %s has no branch that can read the %s of the %s",
			pathOrRoot(path), c.reader(), writer.displayName(), c.writer())
		return false
	}

	if reader.typ != writer.typ {
		if promotable(writer.typ, reader.typ) {
			return true
		}
		c.add(incompatTypeMismatch, path, reader.displayName(),
			"The type at path '%s' in the %s is %s, which cannot read the %s of the %s",
			pathOrRoot(path), c.reader(), reader.displayName(), writer.displayName(), c.writer())
		return false
	}

	switch reader.typ {
	case avroRecord:
		return c.checkRecord(reader, writer, path)
	case avroEnum:
		ok := c.checkName(reader, writer, path)
		var missing []string
		for _, s := range writer.symbols {
			if !slices.Contains(reader.symbols, s) {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 && reader.enumDefault == nil {
			c.add(incompatMissingEnumSymbols, path+"/symbols", strings.Join(missing, ", "),
				"The enum %s at path '%s' in the %s lacks the symbols [%s] of the %s and has no default symbol",
				reader.name, pathOrRoot(path), c.reader(), strings.Join(missing, ", "), c.writer())
			ok = false
		}
		return ok
	case avroFixed:
		ok := c.checkName(reader, writer, path)
		if reader.size != writer.size {
			c.add(incompatFixedSizeMismatch, path+"/size", fmt.Sprintf("expected: %d, found: %d", writer.size, reader.size),
				"The fixed %s at path '%s' is %d bytes in the %s but %d bytes in the %s",
				reader.name, pathOrRoot(path), reader.size, c.reader(), writer.size, c.writer())
			ok = false
		}
		return ok
	case avroArray:
		return c.check(reader.items, writer.items, path+"/items")
	case avroMap:
		return c.check(reader.items, writer.items, path+"/values")
	}
	return true // identical primitives
}

// quiet checks without recording issues.
func (c *resolutionChecker) quiet(reader, writer *avroNode) bool {
	saved := c.issues
	ok := c.check(reader, writer, "")
	c.issues = saved
	return ok
}

func (c *resolutionChecker) anyBranchReads(readerUnion, writer *avroNode) bool {
	for _, rb := range readerUnion.branches {
		if c.quiet(rb, writer) {
			return true
		}
	}
	return false
}

// checkName compares named types the way Java does: by simple name, or by
// a reader alias naming the writer's full name.
func (c *resolutionChecker) checkName(reader, writer *avroNode, path string) bool {
	if reader.simpleName() == writer.simpleName() || slices.Contains(reader.aliases, writer.name) {
		return true
	}
	c.add(incompatNameMismatch, path+"/name", writer.name,
		"The name %s at path '%s' in the %s does not match the name %s in the %s, and has no alias for it",
		reader.name, pathOrRoot(path), c.reader(), writer.name, c.writer())
	return false
}

func (c *resolutionChecker) checkRecord(reader, writer *avroNode, path string) bool {
	ok := c.checkName(reader, writer, path)
	for i, rf := range reader.fields {
		fpath := path + "/fields/" + strconv.Itoa(i)
		wf := lookupWriterField(writer, rf)
		if wf == nil {
			if !rf.hasDefault {
				c.add(incompatReaderFieldNoDflt, fpath, rf.name,
					"The field '%s' at path '%s' in the %s has no default value and is missing in the %s",
					rf.name, fpath, c.reader(), c.writer())
				ok = false
			}
			continue
		}
		if !c.check(rf.typ, wf.typ, fpath+"/type") {
			ok = false
		}
	}
	return ok
}

// lookupWriterField finds the writer field a reader field reads: by name,
// then by the reader field's aliases.
func lookupWriterField(writer *avroNode, rf *avroField) *avroField {
	for _, wf := range writer.fields {
		if wf.name == rf.name {
			return wf
		}
	}
	for _, alias := range rf.aliases {
		for _, wf := range writer.fields {
			if wf.name == alias {
				return wf
			}
		}
	}
	return nil
}

// promotable reports whether Avro resolution promotes a writer type to a
// reader type.
func promotable(writer, reader avroType) bool {
	switch writer {
	case avroInt:
		return reader == avroLong || reader == avroFloat || reader == avroDouble
	case avroLong:
		return reader == avroFloat || reader == avroDouble
	case avroFloat:
		return reader == avroDouble
	case avroString:
		return reader == avroBytes
	case avroBytes:
		return reader == avroString
	}
	return false
}

// versionedSchema is an earlier version of a subject, for level checks.
type versionedSchema struct {
	version int
	schema  *avroNode
	text    string
}

// checkCompatibility checks a proposed schema against earlier versions
// (oldest first) under a level, returning Confluent-style messages; no
// messages means compatible. Non-transitive levels check only the last of
// the given versions.
func checkCompatibility(level compatLevel, proposed *avroNode, previous []versionedSchema) []string {
	if level == compatNone || len(previous) == 0 {
		return nil
	}
	if !level.transitive() {
		previous = previous[len(previous)-1:]
	}
	var msgs []string
	// Newest first, like Confluent, so the most relevant version is
	// reported first.
	for i := len(previous) - 1; i >= 0; i-- {
		old := previous[i]
		var issues []incompatibility
		if level.backward() {
			issues = append(issues, checkResolution(proposed, old.schema, "new schema", "old schema")...)
		}
		if level.forward() {
			issues = append(issues, checkResolution(old.schema, proposed, "old schema", "new schema")...)
		}
		if len(issues) == 0 {
			continue
		}
		for _, is := range issues {
			msgs = append(msgs, is.String())
		}
		msgs = append(msgs,
			fmt.Sprintf("{oldSchemaVersion: %d}", old.version),
			fmt.Sprintf("{oldSchema: '%s'}", old.text),
		)
	}
	if len(msgs) > 0 {
		msgs = append(msgs, fmt.Sprintf("{compatibility: '%s'}", level))
	}
	return msgs
}
