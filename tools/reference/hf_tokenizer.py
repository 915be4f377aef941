#!/usr/bin/python3
"""Independent reference of Hugging Face's BERT tokenization (BertTokenizer slow / BertTokenizerFast).

Written from the documented rules, not from HF code. Run with Debian's /usr/bin/python3 (3.11, Unicode 14.0).

Rules (slow BertTokenizer = BasicTokenizer + WordpieceTokenizer):
  0. special tokens written in the text ([CLS], [SEP], [PAD], [UNK], [MASK]) are cut out first and map to their ids
     (HF's added-token split: earliest occurrence, longest token); when lowercasing, the rest of the text is
     lowercased one character at a time (PreTrainedTokenizer.tokenize does this with the regex "(.+?)", which matches
     a single character, so Python's context-dependent final sigma never applies: capital sigma -> σ);
  1. clean: drop U+0000, U+FFFD and every C* character except \\t \\n \\r; whitespace (space, \\t, \\n, \\r, Zs) -> ' ';
  2. surround CJK ideographs (HF's _is_chinese_char ranges) with spaces;
  3. split on Python whitespace (str.split, which also splits on U+2028/U+2029);
  4. per word, if lowercasing: str.lower() (a no-op after step 0 unless final_sigma=True, which skips step 0's
     per-character lowering and so gives Python's whole-word final sigma), then strip accents (NFD, drop Mn) when
     strip_accents is True, or None and lowercasing;
  5. split on punctuation (ASCII 33-47, 58-64, 91-96, 123-126, Unicode P*), each punctuation char its own word;
  6. WordPiece: a word of more than 100 code points -> [UNK]; else greedy longest-match-first with '##'
     continuation; a word that cannot be covered completely -> a single [UNK];
  7. [CLS] + pieces[:max_length-2] + [SEP] (truncation=True).

Variants, used by the fixture generator to keep only texts on which HF's implementations agree:
  variant="slow"     as above;
  nfc=True           the slow tokenizer of newer transformers versions, which NFC-normalizes before step 3;
  variant="fast"     the Rust BertNormalizer: strip accents *before* lowercasing, lowercase char by char (no final
                     sigma either), and its narrower CJK range (0x2B920-0x2CEAF instead of 0x2B820-0x2CEAF).
                     Its control / punctuation / Mn tests come from the unicode_categories crate (0.1.1), whose
                     tables are old (we assume nothing newer than Unicode 8.0 is in them: pass fast_known=...) and,
                     as far as its source shows, list private-use code points only by their range endpoints
                     (UnicodeData.txt's First/Last lines); "other" there is Cc|Cf|Co, so unassigned (Cn) characters
                     are kept, not dropped.
"""
import unicodedata

_CJK_SLOW = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
             (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
_CJK_FAST = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
             (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def load_vocab(path):
    """vocab.txt -> (list of tokens by id, dict token -> id). Later duplicates win, like HF's load_vocab."""
    with open(path, encoding="utf-8") as f:
        tokens = [line.rstrip("\n") for line in f]
    return tokens, {t: i for i, t in enumerate(tokens)}


def is_dropped(ch):
    cp = ord(ch)
    if cp == 0 or cp == 0xFFFD:
        return True
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch)[0] == "C"


def is_space(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch)[0] == "P"


def is_cjk(ch, ranges):
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in ranges)


def strip_accents(word, is_mark=lambda c: unicodedata.category(c) == "Mn"):
    return "".join(c for c in unicodedata.normalize("NFD", word) if not is_mark(c))


_PUA_ENDPOINTS = {0xE000, 0xF8FF, 0xF0000, 0xFFFFD, 0x100000, 0x10FFFD}


class Reference:
    def __init__(self, vocab_path, lower=True, strip=None, chinese=True, max_chars=100, prefix="##",
                 variant="slow", nfc=False, final_sigma=False, fast_known=None,
                 unk="[UNK]", cls="[CLS]", sep="[SEP]", pad="[PAD]", mask="[MASK]"):
        self.tokens, self.vocab = load_vocab(vocab_path)
        self.lower = lower
        self.strip = lower if strip is None else strip
        self.chinese = chinese
        self.max_chars = max_chars
        self.prefix = prefix
        self.variant = variant
        self.nfc = nfc
        self.final_sigma = final_sigma
        # code point -> bool: is it in the fast tokenizer's (old) category tables? None = assume all are.
        self.fast_known = fast_known or (lambda cp: True)
        self.unk_id = self.vocab[unk]
        self.cls_id = self.vocab[cls]
        self.sep_id = self.vocab[sep]
        self.specials = sorted({t for t in (unk, cls, sep, pad, mask) if t in self.vocab}, key=len, reverse=True)

    # -- step 0
    def _split_specials(self, text):
        out, start, i = [], 0, 0
        while i < len(text):
            hit = next((t for t in self.specials if text.startswith(t, i)), None)
            if hit is None:
                i += 1
                continue
            out.append((False, text[start:i]))
            out.append((True, hit))
            i += len(hit)
            start = i
        out.append((False, text[start:]))
        return out

    # -- the fast (Rust) tokenizer's character tests
    def _fast_dropped(self, ch):
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD:
            return True
        if ch in "\t\n\r":
            return False
        cat = unicodedata.category(ch)
        return (cat in ("Cc", "Cf") and self.fast_known(cp)) or (cat == "Co" and cp in _PUA_ENDPOINTS)

    def _fast_punct(self, ch):
        cp = ord(ch)
        if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
            return True
        return unicodedata.category(ch)[0] == "P" and self.fast_known(cp)

    def _fast_mark(self, ch):
        return unicodedata.category(ch) == "Mn" and self.fast_known(ord(ch))

    # -- steps 1-5
    def _words(self, text):
        fast = self.variant == "fast"
        dropped = self._fast_dropped if fast else is_dropped
        punct = self._fast_punct if fast else is_punct
        cjk = _CJK_FAST if fast else _CJK_SLOW
        if self.variant == "slow" and self.lower and not self.final_sigma:
            text = "".join(ch.lower() for ch in text)  # step 0: PreTrainedTokenizer.tokenize's per-character lowering
        buf = []
        for ch in text:
            if dropped(ch):
                continue
            if is_space(ch) or (fast and ch.isspace()):
                buf.append(" ")
            elif self.chinese and is_cjk(ch, cjk):
                buf.append(" " + ch + " ")
            else:
                buf.append(ch)
        text = "".join(buf)
        if self.nfc:
            text = unicodedata.normalize("NFC", text)
        words = []
        for word in text.split():
            if fast:
                if self.strip:
                    word = strip_accents(word, self._fast_mark)
                if self.lower:
                    word = "".join(c.lower() for c in word)
            else:
                if self.lower:
                    word = word.lower()
                if self.strip:
                    word = strip_accents(word)
            cur = []
            for ch in word:
                if punct(ch):
                    if cur:
                        words.append("".join(cur))
                        cur = []
                    words.append(ch)
                else:
                    cur.append(ch)
            if cur:
                words.append("".join(cur))
        # normalization can in principle produce whitespace inside a word; split again like HF does
        return [w for word in words for w in word.split()]

    # -- step 6
    def _wordpiece(self, word):
        if len(word) > self.max_chars:  # len() of a Python str counts code points
            return [self.unk_id]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            found = None
            while end > start:
                candidate = word[start:end] if start == 0 else self.prefix + word[start:end]
                if candidate in self.vocab:
                    found = self.vocab[candidate]
                    break
                end -= 1
            if found is None:
                return [self.unk_id]
            ids.append(found)
            start = end
        return ids

    def tokenize_ids(self, text):
        ids = []
        for special, part in self._split_specials(text):
            if special:
                ids.append(self.vocab[part])
            else:
                for w in self._words(part):
                    ids.extend(self._wordpiece(w))
        return ids

    def tokenize(self, text):
        return [self.tokens[i] for i in self.tokenize_ids(text)]

    # -- step 7
    def encode(self, text, max_length):
        assert max_length >= 2
        return [self.cls_id] + self.tokenize_ids(text)[:max_length - 2] + [self.sep_id]


def _self_check(vocab_path):
    r = Reference(vocab_path)
    assert r.encode("Hello, world!", 256) == [101, 7592, 1010, 2088, 999, 102], r.encode("Hello, world!", 256)
    assert r.tokenize("unaffable") == ["una", "##ffa", "##ble"], r.tokenize("unaffable")
    assert r.tokenize("Héllo WORLD") == ["hello", "world"]
    assert r.tokenize("a=b\tc") == ["a", "=", "b", "c"]
    assert r.tokenize("中文") == ["中", "文"]
    assert r.tokenize("don't") == ["don", "'", "t"]
    assert r.encode("a [SEP] b", 256) == [101, r.vocab["a"], 102, r.vocab["b"], 102]
    assert r.encode("x" * 101, 256) == [101, 100, 102]
    assert r.encode("hello world", 3) == [101, 7592, 102]
    assert r.encode("", 256) == [101, 102]
    assert r.tokenize("ΟΔΟΣ") == r.tokenize("οδοσ") != r.tokenize("οδος")  # HF: capital sigma is always σ
    fs = Reference(vocab_path, final_sigma=True)
    assert fs.tokenize("ΟΔΟΣ") == fs.tokenize("οδος") and fs.tokenize("ΟΔΟΣ.Α") == fs.tokenize("οδοσ.α")
    assert r.tokenize("İstanbul") == r.tokenize("istanbul") == fs.tokenize("İstanbul")
    c = Reference(vocab_path, lower=False)
    assert c.tokenize("hello") == ["hello"] and c.tokenize("Hello") == ["[UNK]"]  # the uncased vocab has no "Hello"
    assert c.tokenize("héllo") == ["[UNK]"]  # cased: accents are kept


if __name__ == "__main__":
    import sys
    _self_check(sys.argv[1] if len(sys.argv) > 1 else "../shared/models/all-MiniLM-L6-v2/vocab.txt")
    print("hf_tokenizer self-check passed")
