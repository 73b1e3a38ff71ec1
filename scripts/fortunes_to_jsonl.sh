#!/usr/bin/env bash
# Turns fortune-cookie files (Debian package `fortunes`: /usr/share/games/fortunes/<category>,
# entries separated by lines holding a single '%') into the README fine-tune's JSONL data:
#   OUT/fortunes_sft.jsonl  {"messages":[{"role":"user","content":"Tell me a fortune about C."},
#                                        {"role":"assistant","content":"<fortune>"}]}
#   OUT/fortunes_cls.jsonl  {"text":"<fortune>","label":<index of C in the category list>}
#   OUT/labels.json         {"<category>": index, ...} (a config.json's label2id)
# Terminal overstrikes (x BACKSPACE y, for bold/underline) are reduced to the visible character;
# entries that are empty or not valid UTF-8 are left out (and counted). Deterministic.
# Usage: scripts/fortunes_to_jsonl.sh [OUT=data/fortunes] [CATEGORY...]
#        (default categories: computers science love food; FORTUNES_DIR overrides the source)
set -euo pipefail
out=${1:-data/fortunes}
shift || true
cats=("$@")
[ ${#cats[@]} -gt 0 ] || cats=(computers science love food)
src=${FORTUNES_DIR:-/usr/share/games/fortunes}
for c in "${cats[@]}"; do
  if [ ! -f "$src/$c" ]; then
    echo "fortunes_to_jsonl: $src/$c not found (apt-get install fortunes)" >&2
    exit 1
  fi
done
mkdir -p "$out"
perl -e '
  use strict; use warnings;
  my ($src, $out, @cats) = @ARGV;
  sub esc { my $s = shift; $s =~ s/\\/\\\\/g; $s =~ s/"/\\"/g; $s =~ s/\n/\\n/g; $s =~ s/\t/\\t/g;
            $s =~ s/([\x00-\x1f\x7f])/sprintf("\\u%04x", ord($1))/ge; return $s; }
  open(my $sft, ">", "$out/fortunes_sft.jsonl") or die "$out/fortunes_sft.jsonl: $!";
  open(my $cls, ">", "$out/fortunes_cls.jsonl") or die "$out/fortunes_cls.jsonl: $!";
  my ($total, $bad) = (0, 0);
  for my $i (0 .. $#cats) {
    my $c = $cats[$i];
    open(my $f, "<:raw", "$src/$c") or die "$src/$c: $!";
    local $/; my $all = <$f>; close $f;
    my $n = 0;
    for my $e (split /^%\n/m, $all) {
      1 while $e =~ s/[^\x08]\x08//;   # overstrike: keep what is printed last
      $e =~ s/\x08//g; $e =~ s/\s+\z//; $e =~ s/\A\n+//;
      if ($e eq "" || !utf8::decode(my $check = $e)) { $bad++; next; }
      my $q = esc("Tell me a fortune about $c."), $a = esc($e);
      print $sft "{\"messages\":[{\"role\":\"user\",\"content\":\"$q\"},{\"role\":\"assistant\",\"content\":\"$a\"}]}\n";
      print $cls "{\"text\":\"$a\",\"label\":$i}\n";
      $n++;
    }
    printf STDERR "fortunes: %-12s %5d entries (label %d)\n", $c, $n, $i;
    $total += $n;
  }
  close $sft; close $cls;
  open(my $l, ">", "$out/labels.json") or die; 
  print $l "{", join(", ", map { "\"$cats[$_]\": $_" } 0 .. $#cats), "}\n"; close $l;
  printf STDERR "fortunes: %d entries written, %d left out (empty or not UTF-8)\n", $total, $bad;
' "$src" "$out" "${cats[@]}"
for f in "$out/fortunes_sft.jsonl" "$out/fortunes_cls.jsonl"; do
  echo "fortunes: $f: $(wc -l < "$f") lines, $(wc -c < "$f") bytes" >&2
done
