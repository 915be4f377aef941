#!/usr/bin/python3
"""Generates the tokenizer reference fixtures with the independent Python reference (tools/reference/hf_tokenizer.py).

Run from the repository root with Debian's Python (3.11, Unicode 14.0):
    /usr/bin/python3 tools/gen_tokenizer_fixtures.py
Writes
    tests/fixtures/tokenizer/minilm-uncased.json   do_lower_case=true  (the real all-MiniLM-L6-v2 setting)
    tests/fixtures/tokenizer/minilm-cased.json     do_lower_case=false with the same vocab (the cased path)
    tests/fixtures/tokenizer/unicode14.json        per-code-point classes, lowercase and NFD of Python's Unicode 14,
                                                   so the C# tests can check .NET's Unicode data agrees

Corpus rules:
  * only code points assigned in Unicode 14 (category != Cn; plus the permanent noncharacters, which are Cn in every
    version), so a newer Unicode version in .NET cannot change their class;
  * minus NET_DIFFERS: code points assigned in Unicode 14 whose tokenizer-relevant class differs in .NET 10's data
    (found and guarded by UnicodeDataAgreementTests);
  * minus 0x2B820-0x2B91F, which HF's slow tokenizer treats as CJK but the Rust fast tokenizer does not;
  * every text must tokenize identically under the slow rules, the slow rules with NFC (newer transformers) and the
    fast (Rust) rules. (Both HF paths lowercase one character at a time, so capital sigma is always σ; the
    hand-written sigma cases check that.) The fast rules model the old unicode_categories tables of the Rust
    tokenizer: only characters present in Unicode 8.0 (per Perl's Unicode data, \p{Present_In: 8.0}) count as
    control / format / punctuation / Mn there, private use only at its range endpoints, and unassigned characters are
    kept. So texts with, e.g., interior private-use characters, noncharacters or marks added after Unicode 8.0 drop
    out of the corpus: HF's two implementations disagree on them (we follow the slow one).
"""
import json
import os
import random
import subprocess
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "reference"))
from hf_tokenizer import Reference, is_dropped, is_space, is_punct, _self_check  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, ".."))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
VOCAB_REL = "models/all-MiniLM-L6-v2/vocab.txt"
VOCAB = os.path.join(SHARED, VOCAB_REL)
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
MAX_LEN = 256
SEED = 20261124

# Code points assigned in Unicode 14 whose class (dropped / whitespace / punctuation / Mn / other) or lowercase
# differs in .NET 10's Unicode data. Kept in sync with UnicodeDataAgreementTests.KnownDifferences.
NET_DIFFERS = {
    0x1171E,  # AHOM CONSONANT SIGN MEDIAL RA: Mn in Unicode 14, Mc in .NET 10 (Unicode 16)
}

NONCHARS = set(range(0xFDD0, 0xFDF0)) | {p * 0x10000 + 0xFFFE for p in range(17)} | {p * 0x10000 + 0xFFFF for p in range(17)}


def usable(cp):
    if 0xD800 <= cp <= 0xDFFF or cp in NET_DIFFERS or 0x2B820 <= cp <= 0x2B91F:
        return False
    return cp in NONCHARS or unicodedata.category(chr(cp)) != "Cn"


# ---------------------------------------------------------------------------------------------------------------------
# hand-written cases
SIGMA_CASES = [
    "ΟΔΟΣ", "ΟΔΟΣ.", "ΟΔΟΣ.Α", "ΣΟΦΙΑ", "Σ", "ΑΣ", "ΑΣΑ", "ΑΣ'", "ΑΣ\u0301", "Α\u0301Σ", "ὈΔΥΣΣΕΎΣ",
    "ΠΑΝΕΠΙΣΤΗΜΙΟΣ ΑΘΗΝΩΝ", "λόγος ΛΟΓΟΣ Λόγος", "ΑΣ-ΒΣ", "ΑΣ\u200dΒ", "ΑΣ1",
]

HAND = [
    "", " ", "   ", "\t", "\n", "\r\n", " \t\n\r ", "\u00a0", "\u3000", "\u2028\u2029", "\u00a0\u2003\u3000 ",
    "Hello, world!", "hello world", "HELLO WORLD", "The quick brown fox jumps over the lazy dog.",
    "unaffable", "unbelievably", "Transformers are great!!!", "I can't, won't; shan't: don't.",
    "a=b", "x == y != z <= w >= v", "1+1=2", "e=mc^2", "key=value&other=thing", "50% off $100 #tag @user ~home",
    "`code` | pipe \\ backslash / slash", "{braces} [brackets] (parens) <angles>",
    "word\tword", "tab\tseparated\tvalues", "line1\nline2\r\nline3\rline4", "a\u000bb\u000cc", "x\u0085y",
    "emoji 😀 test", "😀😃😄", "I ❤ NY", "👍🏽 thumbs", "👩‍💻 coder", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "🇩🇪🇫🇷",
    "keycap 1️⃣ #️⃣", "♥♦♣♠ ★☆", "→ ← ↑ ↓", "∑∫√∞≈≠", "© ® ™ ℃ №", "€ £ ¥ ₹ ₿ ¢",
    "中文分词测试", "我爱北京天安门。", "漢字かなカナ", "日本語のテキストです。", "ひらがな カタカナ ｶﾀｶﾅ",
    "東京タワー", "한국어 텍스트", "안녕하세요 세계", "ㄱㄴㄷ ᄀᄁ", "Ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ！",
    "العربية نص", "مرحبا بالعالم", "שלום עולם", "עִבְרִית", "हिन्दी पाठ", "नमस्ते दुनिया", "ภาษาไทย", "สวัสดีครับ",
    "Ελληνικά", "Καλημέρα κόσμε", "Привет, мир!", "Ёлка ёж", "Україна", "Հայերեն", "ქართული", "አማርኛ",
    "İstanbul", "İİİ", "ISTANBUL ıstanbul", "Iı İi", "straße STRASSE ẞ", "Ꞵ ǅ ǈ ǋ ǲ", "ﬁ ﬂ ﬀ ﬃ", "Œuvre œuvre Æ æ",
    "café", "cafe\u0301", "naïve résumé", "Ångström Å", "Ω Ω", "ñ n\u0303 Ñ", "Ǆ ǆ", "ḱṷṓn", "a\u0300\u0301\u0302b",
    "\u0301leading mark", "Zürich Müller", "Crème Brûlée", "São Paulo", "Łódź", "Dvořák", "Ærøskøbing",
    "ℌ𝔢𝔩𝔩𝔬 𝐁𝐨𝐥𝐝", "𝓢𝓬𝓻𝓲𝓹𝓽", "Ⓐⓑⓒ", "½ ¾ ² ³", "ⅰⅱⅲ Ⅻ", "ℕ ℤ ℚ ℝ",
    "zero\u200bwidth", "zero\u200cnon\u200djoiner", "soft\u00adhyphen", "bom\ufeffinside", "rtl\u200fmark\u200e",
    "nul\u0000char", "replace\ufffdchar", "\ufffd\ufffd", "\u0000", "bell\u0007char", "esc\u001b[0m", "del\u007f",
    "pua\ue000\uf8ff", "\U000f0000 supplementary pua", "nonchar\ufdd0\uffff", "tag\U000e0041\U000e007f",
    "x" * 100, "y" * 101, "z" * 99 + "é", "é" * 101, "😀" * 51, "😀" * 101, "ab" * 60, "a" + "b" * 99 + " c",
    "𝐀" * 60, "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "[CLS] [SEP] [PAD] [UNK] [MASK]", "a [SEP] b", "a[SEP]b", "[sep] [Sep]", "[[SEP]]", "[MASK]ed", "[CLS",
    "...", "?!?!", "---", "\"quoted\"", "'single'", "“curly” ‘quotes’", "«guillemets»", "—em–en-dash",
    "¿Qué? ¡Sí!", "‰ † ‡ • …", "、。・「」『』", "【括号】《书名》", "﹏﹏", "_underscore_", "snake_case_name",
    "camelCaseName", "URL: https://example.com/path?q=1&r=2#frag", "email@example.com", "C:\\path\\to\\file.txt",
    "3.14159 2,718 1e-10 -42 +7", "12:30pm 2026-11-24", "version 1.2.3-beta+build.5", "#1 @2 $3 %4 ^5 &6 *7",
    "repeated repeated repeated", "MiXeD CaSe WoRdS", "ALLCAPS", "a", "A", "Z", "0", "9", ".", " a ", "\ta\t",
    "ǰ ΐ ΰ ẖ ẗ ẘ ẙ ẚ", "Ǻǻ Ǽǽ Ǿǿ", "ſ ẛ", "ϑ ϕ ϖ ϰ ϱ ϲ ϵ", "Ⅎⅎ", "ꟸ", "ᵃᵇᶜ", "ª º", "ʰʲʳ",
    "ᾈ ᾳ ῼ ᾼ", "Ἀθῆναι", "ὅτι", "Ǳ ǲ ǳ", "K Å", "ⓐⓩⒶⓏ",
    "\u1fef\u1fed\u1fee", "\u037e\u0387", "\u2000\u2001", "\u0340\u0341", "\u0958\u0959",
    "한\u1100\u1161\u11a8", "각 가\u11a8", "\u1100\u1161", "ᄀ각", "\uac00\u11a8",
    "\u0f73\u0f75\u0f81", "\U0001d15e\U0001d160", "\U0001d16d\U0001d165",
    "\u05d0\u05b8\u05bc", "\u0915\u093c\u094d", "\u0e01\u0e31\u0e49", "\u0627\u064b\u0652",
    "Ǆemal", "ǄEMAL", "ǅemal", "Ⅻth", "\U00010400\U00010428", "\U0001e900\U0001e922", "\U00016e40\U00016e60",
    "\u13a0\uab70", "\u10a0\u2d00", "\u1c90\u10d0",
]

LONG_TEXTS_SEED = 7


def long_texts(ref):
    rnd = random.Random(LONG_TEXTS_SEED)
    words = [t for t in ref.tokens if t.isalpha() and t.isascii() and len(t) > 2]
    out = []
    out.append(" ".join(rnd.choice(words) for _ in range(1200)))
    out.append("".join(chr(rnd.randint(0x4E00, 0x9FFF)) for _ in range(600)))
    para = "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs! "
    out.append(para * 40)
    # truncation boundary inside a multi-piece word: 253 single-piece words, then a word of several pieces
    out.append("the " * 253 + "unaffable unaffable")
    out.append("the " * 254 + "[SEP] [CLS] tail")
    out.append("the " * 253 + "中文字")
    out.append(("Ünïcödé ÇÃŠË ΟΔΟΙ 😀 " * 80).strip())
    return out


# ---------------------------------------------------------------------------------------------------------------------
# seeded random strings
BLOCKS = [
    (0x0020, 0x007E), (0x00A0, 0x00FF), (0x0100, 0x017F), (0x0180, 0x024F), (0x0250, 0x02FF), (0x0300, 0x036F),
    (0x0370, 0x03FF), (0x0400, 0x04FF), (0x0530, 0x058F), (0x0590, 0x05FF), (0x0600, 0x06FF), (0x0900, 0x097F),
    (0x0980, 0x09FF), (0x0E00, 0x0E7F), (0x0F00, 0x0FFF), (0x10A0, 0x10FF), (0x1100, 0x11FF), (0x1E00, 0x1EFF),
    (0x1F00, 0x1FFF), (0x2000, 0x206F), (0x20A0, 0x20CF), (0x2100, 0x214F), (0x2150, 0x218F), (0x2190, 0x21FF),
    (0x2200, 0x22FF), (0x2460, 0x24FF), (0x2500, 0x257F), (0x2600, 0x26FF), (0x2700, 0x27BF), (0x2E80, 0x2EFF),
    (0x3000, 0x303F), (0x3040, 0x309F), (0x30A0, 0x30FF), (0x3130, 0x318F), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
    (0xA640, 0xA69F), (0xA720, 0xA7FF), (0xAC00, 0xD7A3), (0xE000, 0xF8FF), (0xF900, 0xFAFF), (0xFB00, 0xFB4F),
    (0xFE30, 0xFE4F), (0xFF00, 0xFFEF), (0xFFF0, 0xFFFF), (0x10400, 0x1044F), (0x1D400, 0x1D7FF), (0x1D100, 0x1D1FF),
    (0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F900, 0x1F9FF), (0x1F1E6, 0x1F1FF), (0x20000, 0x2A6DF),
    (0x2F800, 0x2FA1F), (0xE0000, 0xE007F), (0x0000, 0x001F), (0x0080, 0x009F),
]
SEPARATORS = [" ", " ", " ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028", "\u200b", "\u200d"]
MARKS = [chr(c) for c in range(0x300, 0x370) if usable(c)]


def random_text(rnd):
    blocks = rnd.sample(BLOCKS, rnd.randint(1, 4))
    n = rnd.randint(1, 40)
    out = []
    while len(out) < n:
        r = rnd.random()
        if r < 0.15:
            out.append(rnd.choice(SEPARATORS))
            continue
        if r < 0.22:
            out.append(rnd.choice("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"))
            continue
        lo, hi = rnd.choice(blocks)
        cp = rnd.randint(lo, hi)
        if usable(cp):
            out.append(chr(cp))
    return "".join(out)


def vocab_soup(rnd, ref):
    """Real vocabulary pieces, glued and recased, with accents sprinkled in: exercises ## splitting."""
    pieces = [t for t in ref.tokens if not t.startswith("[") and t.strip()]
    words = []
    for _ in range(rnd.randint(1, 12)):
        w = "".join(rnd.choice(pieces).removeprefix("##") for _ in range(rnd.randint(1, 3)))
        if rnd.random() < 0.3:
            w = w.upper() if rnd.random() < 0.5 else w.capitalize()
        if rnd.random() < 0.2:
            i = rnd.randint(0, len(w))
            w = w[:i] + rnd.choice(MARKS) + w[i:]
        words.append(w)
    return "".join(w + rnd.choice([" ", " ", " ", "", ",", ".", "\t", "-"]) for w in words).strip()


# ---------------------------------------------------------------------------------------------------------------------
def present_in_unicode_8():
    """Code points assigned in Unicode 8.0 or earlier, from Perl's Unicode database (Debian's perl has Unicode 14)."""
    script = (r'my $s; for my $c (0..0x10FFFF) { next if $c >= 0xD800 && $c <= 0xDFFF; '
              r'print "$c\n" if chr($c) =~ /\p{Present_In: 8.0}/ }')
    out = subprocess.run(["perl", "-e", script], check=True, capture_output=True, text=True).stdout
    known = {int(x) for x in out.split()}
    assert 0x41 in known and 0x1F600 in known and 0x1F975 not in known and 0x0D00 not in known, "Perl Present_In check"
    return known


def agree(text, variants):
    results = [v.tokenize_ids(text) for v in variants]
    return all(r == results[0] for r in results)


def build(lower, name, known8, rnd_count=300):
    slow = Reference(VOCAB, lower=lower)
    variants = [slow, Reference(VOCAB, lower=lower, nfc=True),
                Reference(VOCAB, lower=lower, variant="fast", fast_known=known8.__contains__)]
    rnd = random.Random(SEED + (1 if lower else 2))
    candidates = [(t, "hand") for t in HAND] + [(t, "sigma") for t in SIGMA_CASES] + [(t, "long") for t in long_texts(slow)]
    for i in range(rnd_count):
        candidates.append((random_text(rnd) if i % 3 else vocab_soup(rnd, slow), "random"))
    cases, seen, dropped, random_dropped = [], set(), [], 0
    for text, kind in candidates:
        if text in seen:
            continue
        seen.add(text)
        if not agree(text, variants):
            if kind != "random":
                dropped.append(text)
            else:
                random_dropped += 1
            continue
        if any(not usable(ord(c)) for c in text if not (0xD800 <= ord(c) <= 0xDFFF)):
            if kind == "random":
                continue
            bad = sorted({hex(ord(c)) for c in text if not usable(ord(c))})
            raise SystemExit(f"hand-written case {text!r} uses excluded code points {bad}")
        cases.append({"text": text, "ids": slow.encode(text, MAX_LEN)})
    fixture = {
        "vocab": "shared:" + VOCAB_REL,
        "do_lower_case": lower,
        "max_length": MAX_LEN,
        "generator": "tools/gen_tokenizer_fixtures.py with tools/reference/hf_tokenizer.py, Python "
                     f"{sys.version.split()[0]}, Unicode {unicodedata.unidata_version}",
        "cases": cases,
    }
    path = os.path.join(OUT, name)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(fixture, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    long_n = sum(1 for c in cases if len(c["ids"]) == MAX_LEN)
    print(f"{name}: {len(cases)} cases ({long_n} truncated at {MAX_LEN}), {os.path.getsize(path)} bytes; "
          f"{random_dropped} random texts dropped because HF variants disagree; hand-written ones: "
          f"{[d[:30] for d in dropped]}")


def unicode_classes():
    """Per code point: U unassigned (Cn, skipped), D dropped, W whitespace, P punctuation, M Mn, O other."""
    def cls(cp):
        if 0xD800 <= cp <= 0xDFFF:
            return "U"
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat == "Cn":
            return "U"
        if is_dropped(ch):
            return "D"
        if is_space(ch) or ch.isspace():
            return "W"
        if is_punct(ch):
            return "P"
        if cat == "Mn":
            return "M"
        return "O"

    runs, prev = [], None
    for cp in range(0x110000):
        c = cls(cp)
        if c != prev:
            runs.append([cp, c])
            prev = c
    lower = [[cp, [ord(x) for x in chr(cp).lower()]] for cp in range(0x110000)
             if not 0xD800 <= cp <= 0xDFFF and unicodedata.category(chr(cp)) != "Cn" and chr(cp).lower() != chr(cp)]
    nfd = [[cp, [ord(x) for x in unicodedata.normalize("NFD", chr(cp))]] for cp in range(0x110000)
           if not 0xD800 <= cp <= 0xDFFF and unicodedata.category(chr(cp)) != "Cn"
           and (not 0xAC00 <= cp <= 0xD7A3 or cp % 97 == 0) and unicodedata.normalize("NFD", chr(cp)) != chr(cp)]
    data = {"unicode_version": unicodedata.unidata_version, "python": sys.version.split()[0],
            "classes": runs, "lower": lower, "nfd": nfd}
    path = os.path.join(OUT, "unicode14.json")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(data, f, separators=(",", ":"))
        f.write("\n")
    print(f"unicode14.json: {len(runs)} class runs, {len(lower)} lowercase, {len(nfd)} NFD entries, "
          f"{os.path.getsize(path)} bytes")


def main():
    if not os.path.exists(VOCAB):
        raise SystemExit(f"missing {VOCAB} (../shared beside the checkout)")
    assert unicodedata.unidata_version == "14.0.0", "run with Debian's /usr/bin/python3 (Unicode 14.0)"
    _self_check(VOCAB)
    os.makedirs(OUT, exist_ok=True)
    unicode_classes()
    known8 = present_in_unicode_8()
    build(True, "minilm-uncased.json", known8)
    build(False, "minilm-cased.json", known8)


if __name__ == "__main__":
    main()
