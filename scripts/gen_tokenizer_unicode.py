"""Generates host/tokenizer/tok_unicode_tables.c: the character properties Hugging Face
`tokenizers` uses, read off tokenizers itself code point by code point.

Why: tokenizers takes its Unicode data from several places of different ages - the
unicode_categories crate (Unicode 9: BertNormalizer's control characters, BertPreTokenizer's and
Punctuation's punctuation, strip_accents' Mn), unicode-normalization-alignments (NFC/NFD/NFKC/
NFKD, and StripAccents' combining marks), Rust's std (Unicode 16: char::is_numeric,
char::to_lowercase, the regex crate's \\w) and Oniguruma (its regexes' \\p{..} classes). weft
uses utf8proc (Unicode 13) for normal forms and lowercasing and PCRE2 (Unicode 14) for regexes;
to give the same ids on every character the tables below record:
  - the predicate sets, as code point ranges (no utf8proc involved);
  - where tokenizers' lowercase differs from utf8proc_tolower;
  - the characters whose normalization differs from utf8proc's (tokenizers' tables do not know
    them: they are left as they are, as unassigned characters would be);
  - per general category, the characters Oniguruma puts in it and PCRE2 does not (added to
    \\p{..} when a regex is translated), and Oniguruma's \\w.
Run with the interop venv (it has tokenizers):  $(scripts/venv.sh)/bin/python scripts/gen_tokenizer_unicode.py
"""
import ctypes
import ctypes.util
import os
import sys

import tokenizers
from tokenizers import Regex, normalizers, pre_tokenizers

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "host", "tokenizer",
                   "tok_unicode_tables.c")
ALL = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]
CATS = ["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe",
        "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"]

u8p = ctypes.CDLL(ctypes.util.find_library("utf8proc"))
u8p.utf8proc_tolower.restype = ctypes.c_int32
u8p.utf8proc_version.restype = ctypes.c_char_p
u8p.utf8proc_unicode_version.restype = ctypes.c_char_p
u8p.utf8proc_map.argtypes = [ctypes.c_char_p, ctypes.c_ssize_t, ctypes.POINTER(ctypes.c_void_p),
                             ctypes.c_int]
u8p.utf8proc_map.restype = ctypes.c_ssize_t
libc = ctypes.CDLL(None)
libc.free.argtypes = [ctypes.c_void_p]
STABLE, COMPAT, COMPOSE, DECOMPOSE = 1 << 1, 1 << 2, 1 << 3, 1 << 4
FORMS = {"NFC": STABLE | COMPOSE, "NFD": STABLE | DECOMPOSE, "NFKC": STABLE | COMPOSE | COMPAT,
         "NFKD": STABLE | DECOMPOSE | COMPAT}


def u8p_norm(s, form):
    b = s.encode()
    out = ctypes.c_void_p()
    n = u8p.utf8proc_map(b, len(b), ctypes.byref(out), FORMS[form])
    assert n >= 0, s
    r = ctypes.string_at(out, n).decode()
    libc.free(out)
    return r


def ranges(cps):
    cps = sorted(cps)
    res = []
    for c in cps:
        if res and res[-1][1] == c - 1:
            res[-1][1] = c
        else:
            res.append([c, c])
    return res


SEP = "\ue000"  # a private-use character: no normalizer or case mapping touches it


def batch_norm(norm, texts, sep=SEP):
    """norm.normalize_str over many texts in one call: joined by sep, split back (texts holding
    sep go one by one)."""
    idx = [i for i, t in enumerate(texts) if sep not in t]
    out = norm.normalize_str(sep.join(texts[i] for i in idx)).split(sep)
    assert len(out) == len(idx)
    res = [None] * len(texts)
    for i, o in zip(idx, out):
        res[i] = o
    for i, t in enumerate(texts):
        if res[i] is None:
            res[i] = norm.normalize_str(t)
    return res


def batch_u8p(texts, form):
    idx = [i for i, t in enumerate(texts) if SEP not in t]
    out = u8p_norm(SEP.join(texts[i] for i in idx), form).split(SEP)
    assert len(out) == len(idx)
    res = [None] * len(texts)
    for i, o in zip(idx, out):
        res[i] = o
    for i, t in enumerate(texts):
        if res[i] is None:
            res[i] = u8p_norm(t, form)
    return res


def split_sets(pt, chars, sep="a"):
    """Pre-tokenizes sep c1 sep c2 sep ... once; for each character: how many pieces other than
    the separators its position took part in, as (isolated, merged, removed)."""
    text = sep + sep.join(chars) + sep
    kinds = {}
    for piece, (s, e) in pt.pre_tokenize_str(text):
        for k in range(s, e):
            if k % 2 == 1:
                kinds[k // 2] = "alone" if (e - s == 1) else "merged"
    return [kinds.get(i, "removed") for i in range(len(chars))]


def predicate_sets():
    chars = [chr(c) for c in ALL]
    cps = ALL
    sets = {k: [] for k in ("punct", "numeric", "word", "space", "control", "mn", "mark")}
    for c, k in zip(cps, split_sets(pre_tokenizers.Punctuation("isolated"), chars)):
        if k == "alone":
            sets["punct"].append(c)
    for c, k in zip(cps, split_sets(pre_tokenizers.Digits(individual_digits=True), chars)):
        if k == "alone":
            sets["numeric"].append(c)
    for c, k in zip(cps, split_sets(pre_tokenizers.Whitespace(), chars)):
        # "a" c "a": a word character merges with the a's, whitespace is removed, others stand
        # alone (between two word pieces)
        if k == "merged":
            sets["word"].append(c)
        elif k == "removed":
            sets["space"].append(c)
    clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False,
                                       strip_accents=False, lowercase=False)
    strip_mn = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False,
                                          strip_accents=True, lowercase=False)
    nfd = batch_norm(normalizers.NFD(), chars)
    # clean_text removes private-use characters: join by "|" there (nothing normalizes to it)
    for c, ch, a, b, d in zip(cps, chars, batch_norm(clean, chars, "|"),
                              batch_norm(strip_mn, chars, "|"), nfd):
        if a == "":
            sets["control"].append(c)
        if d == ch and b == "":
            sets["mn"].append(c)
    for c, m in zip(cps, batch_norm(normalizers.StripAccents(), chars)):
        if m == "":
            sets["mark"].append(c)
    return sets


def lower_exceptions():
    chars = [chr(c) for c in ALL]
    exc = []
    for ch, ref in zip(chars, batch_norm(normalizers.Lowercase(), chars)):
        c = ord(ch)
        if ref != chr(u8p.utf8proc_tolower(c)):
            assert 1 <= len(ref) <= 3, (hex(c), ref)
            exc.append((c, [ord(x) for x in ref]))
    return exc


def normalization_protect():
    """Code points normalized differently by tokenizers and utf8proc, alone or next to probes:
    a ccc-240 mark before (reordering), a ccc-1 mark after, and a base letter before
    (composition)."""
    cps = [c for c in ALL if u8p.utf8proc_category(c) != 0]
    protect, unexplained = set(), set()
    for make in (lambda ch: ch, lambda ch: "a\u0345" + ch, lambda ch: "a" + ch + "\u0334",
                 lambda ch: "a" + ch):
        texts = [make(chr(c)) for c in cps]
        for f in FORMS:
            ref = batch_norm(getattr(normalizers, f)(), texts)
            mine = batch_u8p(texts, f)
            for c, t, r, m in zip(cps, texts, ref, mine):
                if r != m:
                    protect.add(c)
                    # the model: tokenizers does not know the character and leaves it alone
                    if t == chr(c) and r != t:
                        unexplained.add(c)
    return sorted(protect), sorted(unexplained)


def pcre2_categories():
    """General category of every code point as PCRE2 (the library weft links) sees it."""
    pc = ctypes.CDLL(ctypes.util.find_library("pcre2-8"))
    pc.pcre2_compile_8.restype = ctypes.c_void_p
    pc.pcre2_compile_8.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32,
                                   ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_size_t),
                                   ctypes.c_void_p]
    pc.pcre2_match_data_create_8.restype = ctypes.c_void_p
    pc.pcre2_match_data_create_8.argtypes = [ctypes.c_uint32, ctypes.c_void_p]
    pc.pcre2_match_8.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t,
                                 ctypes.c_uint32, ctypes.c_void_p, ctypes.c_void_p]
    pc.pcre2_get_ovector_pointer_8.restype = ctypes.POINTER(ctypes.c_size_t)
    pc.pcre2_get_ovector_pointer_8.argtypes = [ctypes.c_void_p]
    UTF, UCP, NO_UTF_CHECK = 0x00080000, 0x00020000, 0x40000000
    text = "".join(chr(c) for c in ALL).encode()
    starts = {}
    off = 0
    for c in ALL:
        starts[off] = c
        off += len(chr(c).encode())
    cat = {}
    for x in CATS:
        err, eoff = ctypes.c_int(), ctypes.c_size_t()
        pat = ("\\p{%s}" % x).encode()
        code = pc.pcre2_compile_8(pat, len(pat), UTF | UCP, ctypes.byref(err), ctypes.byref(eoff),
                                  None)
        md = pc.pcre2_match_data_create_8(1, None)
        pos = 0
        # without NO_UTF_CHECK every call would validate the whole text again
        while pc.pcre2_match_8(code, text, len(text), pos, NO_UTF_CHECK, md, None) > 0:
            ov = pc.pcre2_get_ovector_pointer_8(md)
            cat[starts[ov[0]]] = x
            pos = ov[1]
    return cat


def onig_categories():
    """The same as tokenizers' Oniguruma sees it (a Split regex that keeps only the matches)."""
    text = "".join(chr(c) for c in ALL)
    cat = {}
    for x in CATS:
        pt = pre_tokenizers.Split(Regex("\\p{%s}" % x), behavior="removed", invert=True)
        for p, _ in pt.pre_tokenize_str(text):
            for ch in p:
                cat[ord(ch)] = x
    return cat


def onig_word():
    """Oniguruma's \\w (Latin-1 from its own table, then Unicode's Word property)."""
    pt = pre_tokenizers.Split(Regex(r"\w"), behavior="removed", invert=True)
    return sorted({ord(ch) for p, _ in pt.pre_tokenize_str("".join(chr(c) for c in ALL))
                   for ch in p})


def c_ranges(name, rs):
    out = ["const uint32_t %s[][2] = {" % name]
    line = "   "
    for lo, hi in rs:
        item = " {0x%X, 0x%X}," % (lo, hi)
        if len(line) + len(item) > 99:
            out.append(line)
            line = "   "
        line += item
    out.append(line)
    out.append("};")
    out.append("const size_t %s_n = %d;" % (name, len(rs)))
    return "\n".join(out)


def main():
    print("tokenizers", tokenizers.__version__, "utf8proc", u8p.utf8proc_version().decode(),
          "(Unicode %s)" % u8p.utf8proc_unicode_version().decode(), file=sys.stderr)
    sets = predicate_sets()
    lower = lower_exceptions()
    protect, unexplained = normalization_protect()
    if unexplained:
        print("warning: normalization differences not explained as unknown characters:",
              [hex(c) for c in unexplained[:20]], file=sys.stderr)
    pcat, ocat = pcre2_categories(), onig_categories()
    extra = sorted((ocat[c], c) for c in ocat if pcat.get(c, "Cn") != ocat[c])
    lost = sorted(c for c in pcat if ocat.get(c, "Cn") != pcat[c] and pcat[c] != "Cn")
    if lost:
        print("warning: %d code points leave a PCRE2 category in Oniguruma:" % len(lost),
              [hex(c) for c in lost[:20]], file=sys.stderr)
    parts = ["/* Generated by scripts/gen_tokenizer_unicode.py - do not edit. Character data read",
             " * off tokenizers %s itself (see the script for why), against utf8proc %s and"
             % (tokenizers.__version__, u8p.utf8proc_version().decode()),
             " * libpcre2-8: predicate sets as code point ranges, lowercase exceptions, characters",
             " * tokenizers does not normalize, and per general category the code points Oniguruma",
             " * has and PCRE2 lacks. */",
             "#include \"tok_internal.h\"", ""]
    names = {"punct": "tk_tab_punct", "numeric": "tk_tab_numeric", "word": "tk_tab_word",
             "space": "tk_tab_space", "control": "tk_tab_control", "mn": "tk_tab_mn",
             "mark": "tk_tab_mark"}
    for k, n in names.items():
        parts.append(c_ranges(n, ranges(sets[k])))
        parts.append("")
    parts.append(c_ranges("tk_tab_nf_keep", ranges(protect)))
    parts.append("")
    parts.append(c_ranges("tk_tab_onig_word", ranges(onig_word())))
    parts.append("")
    parts.append("const tk_lower_exc tk_tab_lower[] = {")
    for c, outs in lower:
        o = outs + [0] * (3 - len(outs))
        parts.append("    {0x%X, %d, {0x%X, 0x%X, 0x%X}}," % (c, len(outs), o[0], o[1], o[2]))
    parts.append("};")
    parts.append("const size_t tk_tab_lower_n = %d;" % len(lower))
    parts.append("")
    grouped = []
    for x, c in extra:
        if grouped and grouped[-1][0] == x and grouped[-1][2] == c - 1:
            grouped[-1][2] = c
        else:
            grouped.append([x, c, c])
    parts.append("const tk_cat_range tk_tab_onig_extra[] = {")
    for x, lo, hi in grouped:
        parts.append("    {\"%s\", 0x%X, 0x%X}," % (x, lo, hi))
    parts.append("};")
    parts.append("const size_t tk_tab_onig_extra_n = %d;" % len(grouped))
    with open(OUT, "w") as f:
        f.write("\n".join(parts) + "\n")
    print("wrote", OUT, {k: len(ranges(v)) for k, v in sets.items()}, "lower", len(lower),
          "nf_keep", len(protect), "onig_extra", len(grouped), file=sys.stderr)


if __name__ == "__main__":
    main()
