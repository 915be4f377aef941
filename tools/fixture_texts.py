"""Text sets of the encoder parity fixtures (tests/fixtures/encoder/*.json). Deterministic: edit here, then
regenerate with tools/gen_fixtures.sh. Chosen to stress the tokenizer rules of issue 2 (cleaning, whitespace, CJK,
lowercasing with final sigma, accent stripping, punctuation vs symbols, emoji, long words) and the encoder
(empty text, one token, texts longer than max_seq_length so truncation happens, mixed lengths so batches pad).
"""

_LONG_EN = (
    "Sentence embeddings map a piece of text to a fixed-size vector so that texts with similar meanings end up "
    "close to each other. A BERT encoder reads the word pieces of the text, mixes them through several layers of "
    "self-attention and feed-forward blocks, and a pooling step averages the token vectors into one. The vectors "
    "can then be compared with the cosine similarity, clustered with k-means, or stored in an inverted-file index "
    "for fast approximate nearest-neighbour search. Because the model only sees a limited window, long documents "
    "are truncated to the maximum sequence length, including the special classification and separator tokens. "
)


def _long_english(words):
    base = _LONG_EN.split(" ")
    out = []
    i = 0
    while len(out) < words:
        out.append(base[i % len(base)])
        i += 1
    return " ".join(out)


_COMMON = [
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
    "",
    "a",
    "   \t  ",
    "HeLLo WoRLD, THIS is MiXeD CaSe!!!",
    "Café naïve façade résumé Ångström São Paulo Zürich",
    "ΟΔΥΣΣΕΥΣ και Σίσυφος: ο λόγος τελειώνει σε σίγμα ΣΟΦΟΣ.",
    "Straße, groß, Maß und Fuß — das ß bleibt ß.",
    "Москва — столица России; Ёлка и ЙОГУРТ.",
    "我喜欢自然语言处理。北京欢迎你！",
    "日本語のテキスト、カタカナとひらがなと漢字が混ざっています。",
    "한국어 문장도 토큰화됩니다: 안녕하세요!",
    "مرحبا بالعالم، هذه جملة عربية.",
    "שלום עולם, זה משפט בעברית.",
    "नमस्ते दुनिया, यह हिंदी वाक्य है।",
    "ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "Emoji time 😀🎉👍🏽 and a family 👨‍👩‍👧‍👦 plus flags 🇫🇷🇯🇵.",
    "Symbols: a = b + c < d > e; 5 $ 3 € 2 £ © ® ™ ° ± × ÷ ∑ ∫ √ ≤ ≥ ≠ ∞ ^ ~ ` | \\ @ # % & *",
    "Quotes «guillemets» „Anführungszeichen“ “curly” ‘single’ ¿Qué? ¡Hola! … — – · • ¶ §",
    "tab\tseparated\twords\nnew line\r\ncarriage return",
    "zero\u200bwidth space, soft\u00adhyphen, no\u00a0break space, ideographic\u3000space",
    "control chars \u0007 bell \u001b escape \u0000 nul \ufffd replacement \u0085 nel",
    "combining e\u0301 vs precomposed é, a\u0308 vs ä, n\u0303 vs ñ",
    "Fullwidth ＡＢＣ １２３ and ligature ﬁ ﬂ and superscript x² ½",
    "x = f(a, b) + g[i]; if (x >= 10) { return \"done\"; } // C-like code",
    "https://example.com/path?query=1&lang=en#frag and mail@example.org",
    "pneumonoultramicroscopicsilicovolcanoconiosis supercalifragilisticexpialidocious antidisestablishmentarianism",
    "a" * 101 + " word longer than one hundred characters becomes unknown",
    "3.14159 2,718 1e-9 0x1F 10% 24/7 9:30am -42",
    "Mixed 中文 English 日本語 and español in one línea, ça va?",
]

MINILM_TEXTS = _COMMON + [
    "The new movie is awesome",
    "The new movie is so great",
    "A man is playing a guitar on the street corner while people walk by.",
    "Deep learning models require large amounts of data and compute to train effectively.",
    _long_english(330),                                   # > 256 tokens: truncated
    "这是一段很长的中文文本。" * 30,                        # > 256 CJK tokens: truncated
    ("emoji 🙂 " * 140).strip(),                          # > 256 tokens with emoji
    " ".join(f"word{i}" for i in range(200)),             # many word pieces
]

ODD_TEXTS = _COMMON[:17] + [
    "The new movie is awesome",
    _long_english(120),                                   # > 96 tokens: truncated
    "这是一段很长的中文文本。" * 10,                        # > 96 CJK tokens
    " ".join(f"token{i}" for i in range(60)),
    "Emoji time 😀🎉👍🏽 and a family 👨‍👩‍👧‍👦 plus flags 🇫🇷🇯🇵.",
    "Symbols: a = b + c < d > e; 5 $ 3 € 2 £ © ® ™ ° ± × ÷ ∑ ∫ √ ≤ ≥ ≠ ∞ ^ ~ ` | \\ @ # % & *",
    "tab\tseparated\twords\nnew line\r\ncarriage return",
    "zero\u200bwidth space, soft\u00adhyphen, no\u00a0break space, ideographic\u3000space",
]
