# generic-worker's artifact semantics (artifacts_test.go), in run-task
# form: content type and encoding from the file's path, not the
# artifact's name; the identity list case-sensitive; a missing optional
# artifact recorded without failing the task; a missing required one
# failing it.
. "$(dirname "$0")/lib.sh"

if ! is_root; then
	skip "run-task" "root (each task gets a fresh uid)"
	exit 0
fi

# t NAME FUNCTION: ok if FUNCTION succeeds, else not ok with ${why[@]}.
t() {
	why=()
	if "$2"; then ok "$1"; else not_ok "$1" "${why[@]}"; fi
}
# art NAME FIELD: a field of result.json's entry for artifact NAME.
art() {
	node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1]));
	    const a = r.artifacts.find(a => a.name === process.argv[2]);
	    console.log(a ? a[process.argv[3]] : "(no artifact)")' \
	    "$OUT/result.json" "$1" "$2"
}
# expect_art NAME TYPE ENCODING: result.json says so.
expect_art() {
	local got="$(art "$1" contentType) / $(art "$1" contentEncoding)"
	[ "$got" = "$2 / $3" ] || { why+=("$1: $got, wanted $2 / $3"); return 1; }
}
errors_json() { jget "$OUT/result.json" .artifactErrors; }

run_task names <<'JSON'
{"command": [["/bin/sh", "-c", "mkdir -p SampleArtifacts/_ && echo test artifact > SampleArtifacts/_/X.txt"]],
 "maxRunTime": 30,
 "artifacts": [{"type": "file", "path": "SampleArtifacts/_/X.txt", "name": "public/build/firefox.exe"}]}
JSON
test_names() {
	why=("$(cat "$OUT/result.json")")
	expect_task names completed completed 0 >/dev/null &&
	    expect_art public/build/firefox.exe "text/plain; charset=utf-8" gzip &&
	    [ "$(cat "$OUT/public/build/firefox.exe")" = "test artifact" ]
}
t "TestFileArtifactWithNames: path X.txt named firefox.exe is text/plain; charset=utf-8, gzip (from the path)" test_names

# Content types by extension (customMimeMappings first, extension in any
# case), encodings by the case-sensitive identity list; the payload's
# own contentType/contentEncoding win.
run_task types <<'JSON'
{"command": [["/bin/sh", "-c", "for f in a.txt a.log a.jsonl b.JSONL a.json a.zip b.ZIP a.png a.tar.gz x.txt; do echo $f > $f; done; mkdir -p d/sub && echo a > d/sub/inner.txt && echo b > d/pkg.tgz"]],
 "maxRunTime": 30,
 "artifacts": [
  {"type": "file", "path": "a.txt", "name": "public/txt"},
  {"type": "file", "path": "a.log", "name": "public/log.bin"},
  {"type": "file", "path": "a.jsonl", "name": "public/jsonl"},
  {"type": "file", "path": "b.JSONL", "name": "public/JSONL"},
  {"type": "file", "path": "a.json", "name": "public/json"},
  {"type": "file", "path": "a.zip", "name": "public/zip"},
  {"type": "file", "path": "b.ZIP", "name": "public/ZIP"},
  {"type": "file", "path": "a.png", "name": "public/png.txt"},
  {"type": "file", "path": "a.tar.gz", "name": "public/tar"},
  {"type": "file", "path": "x.txt", "name": "public/custom.zip",
   "contentType": "application/x-custom", "contentEncoding": "identity"},
  {"type": "directory", "path": "d", "name": "public/dir.zip"}]}
JSON
test_types() {
	why=("$(cat "$OUT/result.json")")
	expect_task types completed completed 0 >/dev/null &&
	    expect_art public/txt "text/plain; charset=utf-8" gzip &&
	    expect_art public/log.bin "text/plain" gzip &&
	    expect_art public/jsonl "application/jsonl" gzip &&
	    expect_art public/JSONL "application/jsonl" gzip &&
	    expect_art public/json "application/json" gzip &&
	    expect_art public/zip "application/zip" identity &&
	    expect_art public/ZIP "application/zip" gzip &&
	    expect_art public/png.txt "image/png" identity &&
	    expect_art public/tar "application/gzip" identity &&
	    expect_art public/custom.zip "application/x-custom" identity &&
	    expect_art public/dir.zip/sub/inner.txt "text/plain; charset=utf-8" gzip &&
	    expect_art public/dir.zip/pkg.tgz "application/gzip" identity
}
t "content types and encodings: from each file's path (.jsonl, .log, upper case), identity list case-sensitive (.ZIP is gzipped), payload values win, directory entries by their own path" test_types

run_task optional <<'JSON'
{"command": [["/bin/sh", "-c", "echo here > present.txt"]],
 "maxRunTime": 30,
 "artifacts": [
  {"type": "file", "path": "no-such-file.txt", "name": "public/optional.txt", "optional": true},
  {"type": "directory", "path": "no-such-dir", "name": "public/optional-dir", "optional": true},
  {"type": "file", "path": "present.txt", "name": "public/present.txt", "optional": true}]}
JSON
test_optional() {
	local errs
	errs=$(errors_json)
	why=("artifactErrors: $errs" "$(grep -a 'optional' "$LOG")")
	expect_task optional completed completed 0 >/dev/null &&
	    [ "$errs" = '[{"name":"public/optional.txt","reason":"file-missing-on-worker","message":"no-such-file.txt does not exist in the task directory","optional":true},{"name":"public/optional-dir","reason":"file-missing-on-worker","message":"no-such-dir does not exist in the task directory","optional":true}]' ] &&
	    [ "$(cat "$OUT/public/present.txt")" = here ] &&
	    grep -aq '^\[taskcluster [^]]*\] Artifact public/optional.txt: no-such-file.txt does not exist in the task directory (file-missing-on-worker); it is optional: the task does not fail for it$' "$LOG"
}
t "TestMissingOptionalFileArtifactDoesNotFailTest: missing optional artifacts are recorded as errors (result.json, the log), the task completes" test_optional

run_task required <<'JSON'
{"command": [["/bin/true"]],
 "maxRunTime": 30,
 "artifacts": [{"type": "file", "path": "no-such-file.txt", "name": "public/required.txt"}]}
JSON
test_required() {
	local errs
	errs=$(errors_json)
	why=("artifactErrors: $errs")
	expect_task required failed failed 1 >/dev/null &&
	    [ "$errs" = '[{"name":"public/required.txt","reason":"file-missing-on-worker","message":"no-such-file.txt does not exist in the task directory"}]' ]
}
t "TestMissingArtifactFailsTest: a missing required artifact fails the task, its error recorded" test_required
