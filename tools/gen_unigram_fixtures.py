#!/usr/bin/python3
"""Unigram (SentencePiece) tokenizer fixtures for the XLM-R tokenizer (issue 11).

Trains small Unigram models with Google SentencePiece (Debian python3-sentencepiece) on
tests/fixtures/unigram/corpus.txt, converts each .model to a Hugging Face tokenizer.json (XLM-R rules, see
tools/README.md), and records Google SentencePiece's ids (EncodeAsIds, fairseq-offset, <s> ... </s>, truncated)
and normalized text (spm_normalize) for thousands of texts. Nothing here imports the C# code.

    /usr/bin/python3 tools/gen_unigram_fixtures.py
"""
import base64, gzip, json, os, random, re, subprocess, sys, tempfile
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as pb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'tests', 'fixtures', 'unigram')
MAX_LENGTH = 128
SEED = 11

# name, vocab size, extra spm_train arguments, latin_weight (repeat Latin-script lines so that a small vocabulary
# reaches the 0.98 character coverage minimum; the rare scripts then become unknown characters), json (also commit a
# converted tokenizer.json)
MODELS = [
    ('u400-nfkc', 400, dict(normalization_rule_name='nmt_nfkc', character_coverage=0.98), 60, True),
    ('u1000-nfkc', 1000, dict(normalization_rule_name='nmt_nfkc', character_coverage=0.98), 20, False),
    ('u4000-nfkc', 4000, dict(normalization_rule_name='nmt_nfkc', character_coverage=1.0, hard_vocab_limit=False), 1, True),
    ('u1000-identity', 1000, dict(normalization_rule_name='identity', character_coverage=0.98), 20, True),
    ('u1000-nfkc-cf', 1000, dict(normalization_rule_name='nmt_nfkc_cf', character_coverage=0.98), 20, False),
    ('u1000-nosplit', 1000, dict(normalization_rule_name='nmt_nfkc', character_coverage=0.98, split_by_whitespace=False, hard_vocab_limit=False), 20, False),
    ('u1000-keepspace', 1000, dict(normalization_rule_name='identity', character_coverage=0.98,
                                   remove_extra_whitespaces=False, add_dummy_prefix=False, hard_vocab_limit=False), 20, True),
]


def unescape(s):
    return re.sub(r'\\u([0-9a-fA-F]{4})', lambda m: chr(int(m.group(1), 16)), s)


def corpus_lines():
    with open(os.path.join(OUT, 'corpus.txt'), encoding='utf-8') as f:
        return [unescape(l.rstrip('\n')) for l in f if l.strip()]


def is_latin_line(l):
    letters = [c for c in l if c.isalpha()]
    return letters and sum(c < '\u0250' for c in letters) / len(letters) > 0.9


def texts(lines):
    """The test texts: corpus lines, their words and halves, seeded random concatenations, edge cases."""
    rng = random.Random(SEED)
    out = []
    out += lines
    words = sorted({w for l in lines for w in l.split()})
    out += words
    for l in lines:
        out.append(l[:len(l) // 2]); out.append(l[len(l) // 2:])
        out.append(l.upper()); out.append(l.lower())
    ws = [' ', '  ', '\t', '\u00a0', '\u3000', '\u2003', ' \t ', '\u200b', '']
    for _ in range(1200):
        k = rng.randint(1, 6)
        parts = [rng.choice(words) if rng.random() < 0.6 else rng.choice(lines) for _ in range(k)]
        out.append(''.join(p + rng.choice(ws) for p in parts))
    for _ in range(300):   # random character soup from the corpus alphabet
        alphabet = sorted({c for l in lines for c in l})
        out.append(''.join(rng.choice(alphabet) for _ in range(rng.randint(1, 25))))
    # tie-heavy strings: few letters, many equal-scoring segmentations (exercises the float/double arithmetic)
    for _ in range(600):
        alphabet = rng.choice(['ab', 'aeinost', 'lmn', 'es ', 'th e', 'ssss ', 'ананас', 'ああいい'])
        out.append(''.join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))))
    edge = ['', ' ', '   ', '\t', '\t \u3000\u00a0 ', '\n', ' a ', 'a', '▁', '▁▁ ▁', '  ▁x', 'x▁', '😀', '😀😀😀',
            '\U0001F9FF\U0001FAE0\U0001F6F8', '\u0E3F\u0E3F', 'ᚠᚢᚦᚨᚱᚲ ᚷᚹ', '𐌰𐌱𐌲', '𓀀𓀁𓀂 𓀃', 'ꙮꙮꙮ', '\ufeff', '\u200d',
            'a' * 300, 'ab' * 200, 'Donaudampfschifffahrt' * 20, '東' * 150, 'ﬁ' * 50, '①②③④⑤⑥⑦⑧⑨⑩',
            ' '.join(['word'] * 200), ' '.join(lines), 'x\u0301\u0302\u0303\u0304', '\u0301abc', 'ＡＢＣ１２３',
            '\u3000ＡＢＣ\u3000', 'Ⅻ ㎏ ㍻ ㋿', 'Ⓐⓑ', '\ud7a3\u3131\u314f', '<s> </s> <unk> <pad> <mask>',
            '``quoted\'\'', 'a\r\nb', 'a\x00b', '\x7f\x80\x9f', 'tab\there', 'nbsp\u00a0here', 'e\u0301 é']
    out += edge
    seen, uniq = set(), []
    for t in out:
        if t not in seen:
            seen.add(t); uniq.append(t)
    return uniq


def to_hf(sp, spm_ids):
    """fairseq offset: spm <unk>0 <s>1 </s>2 -> HF 3 0 2; piece i>=3 -> i+1."""
    unk = sp.unk_id()
    return [3 if i == unk else i + 1 for i in spm_ids]


def convert(model_path, json_path):
    """.model -> tokenizer.json, the rules of transformers' XLMRobertaConverter for this model's fields."""
    m = pb.ModelProto()
    with open(model_path, 'rb') as f:
        m.ParseFromString(f.read())
    assert [p.piece for p in m.pieces[:3]] == ['<unk>', '<s>', '</s>'], [p.piece for p in m.pieces[:3]]
    vocab = [['<s>', 0.0], ['<pad>', 0.0], ['</s>', 0.0], ['<unk>', 0.0]]
    vocab += [[p.piece, p.score] for p in m.pieces[3:]]
    vocab.append(['<mask>', 0.0])
    ns = m.normalizer_spec
    assert ns.escape_whitespaces and m.trainer_spec.model_type == 1 and not m.trainer_spec.byte_fallback
    # tokenizer.json has no piece types: only normal pieces after the first three convert faithfully
    assert all(p.type == pb.ModelProto.SentencePiece.NORMAL for p in m.pieces[3:])
    normalizer = ({'type': 'Precompiled', 'precompiled_charsmap': base64.b64encode(ns.precompiled_charsmap).decode()}
                  if ns.precompiled_charsmap else None)
    added = [{'id': i, 'special': True, 'content': t, 'single_word': False, 'lstrip': t == '<mask>', 'rstrip': False,
              'normalized': False} for i, t in [(0, '<s>'), (1, '<pad>'), (2, '</s>'), (3, '<unk>'), (len(vocab) - 1, '<mask>')]]
    doc = {
        'version': '1.0',
        'truncation': {'max_length': MAX_LENGTH, 'strategy': 'LongestFirst', 'stride': 0},
        'padding': None,
        'added_tokens': added,
        'normalizer': normalizer,
        # WhitespaceSplit stands for remove_extra_whitespaces, Metaspace.add_prefix_space for add_dummy_prefix
        'pre_tokenizer': {'type': 'Sequence', 'pretokenizers':
                          ([{'type': 'WhitespaceSplit'}] if ns.remove_extra_whitespaces else [])
                          + [{'type': 'Metaspace', 'replacement': '▁', 'add_prefix_space': ns.add_dummy_prefix}]},
        'post_processor': {'type': 'TemplateProcessing',
                           'single': [{'SpecialToken': {'id': '<s>', 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}},
                                      {'SpecialToken': {'id': '</s>', 'type_id': 0}}],
                           'pair': [], 'special_tokens': {'</s>': {'id': '</s>', 'ids': [2], 'tokens': ['</s>']},
                                                          '<s>': {'id': '<s>', 'ids': [0], 'tokens': ['<s>']}}},
        'decoder': {'type': 'Metaspace', 'replacement': '▁', 'add_prefix_space': True},
        'model': {'type': 'Unigram', 'unk_id': 3, 'vocab': vocab},
    }
    with open(json_path, 'w', encoding='utf-8') as f:
        json.dump(doc, f, ensure_ascii=False, separators=(',', ':'))


def spm_normalize(model_path, ts):
    """Google's normalizer (spm_normalize CLI) one line per text; texts with a line break are skipped."""
    keep = [t for t in ts if '\n' not in t and '\r' not in t]
    r = subprocess.run(['spm_normalize', f'--model={model_path}'], input='\n'.join(keep) + '\n', capture_output=True,
                       encoding='utf-8', check=True)
    outs = r.stdout.split('\n')[:-1]
    assert len(outs) == len(keep), (len(outs), len(keep))
    return list(zip(keep, outs))


def write_gz(path, obj):
    # one entry per line inside the gzip so that a zcat diff is readable; mtime 0 for reproducible bytes
    text = json.dumps(obj, ensure_ascii=False, separators=(',', ':'))
    text = text.replace('","', '",\n"')
    with gzip.GzipFile(path, 'wb', 9, mtime=0) as f:
        f.write(text.encode('utf-8'))


def main():
    lines = corpus_lines()
    ts = texts(lines)
    print(f'{len(lines)} corpus lines, {len(ts)} texts')
    write_gz(os.path.join(OUT, 'texts.json.gz'), ts)
    latin = [l for l in lines if is_latin_line(l)]
    # a fixed scratch path: trainer_spec records the input path, so the .model bytes stay reproducible
    tmp = '/tmp/membed-unigram-train'
    os.makedirs(tmp, exist_ok=True)
    if True:
        for name, vsize, extra, latin_weight, want_json in MODELS:
            train = os.path.join(tmp, name + '.txt')
            with open(train, 'w', encoding='utf-8') as f:
                f.write('\n'.join(lines + latin * latin_weight) + '\n')
            spm.SentencePieceTrainer.train(input=train, model_prefix=os.path.join(OUT, name), vocab_size=vsize,
                                           model_type='unigram', minloglevel=2, num_threads=1, seed_sentencepiece_size=1000000,
                                           **extra)
            os.remove(os.path.join(OUT, name + '.vocab'))
            model_path = os.path.join(OUT, name + '.model')
            sp = spm.SentencePieceProcessor(model_file=model_path)
            ids = []
            for t in ts:
                hf = to_hf(sp, sp.EncodeAsIds(t))[:MAX_LENGTH - 2]
                ids.append(' '.join(map(str, [0] + hf + [2])))
            # SentencePiece's normalized text is the concatenation of its pieces (they tile it, unknown runs
            # included); spm_normalize (the CLI) applies only the charsmap and whitespace removal, no prefix/escape.
            normalized = [''.join(sp.EncodeAsPieces(t)) for t in ts]
            cli = dict(spm_normalize(model_path, ts))
            n_unk = sum(' 3 ' in f' {i} ' for i in ids)
            n_trunc = sum(len(sp.EncodeAsIds(t)) > MAX_LENGTH - 2 for t in ts)
            doc = {'model': name + '.model', 'tokenizer_json': name + '.tokenizer.json.gz' if want_json else None,
                   'texts': 'texts.json.gz', 'vocab_size_hf': sp.GetPieceSize() + 2, 'max_length': MAX_LENGTH,
                   'spm_train': dict(vocab_size=vsize, **extra),
                   'ids': ids, 'normalized': normalized, 'spm_normalize': [cli.get(t) for t in ts]}
            write_gz(os.path.join(OUT, name + '.cases.json.gz'), doc)
            if want_json:
                json_path = os.path.join(tmp, name + '.tokenizer.json')
                convert(model_path, json_path)
                with open(json_path, 'rb') as fi, gzip.GzipFile(os.path.join(OUT, name + '.tokenizer.json.gz'), 'wb', 9, mtime=0) as fo:
                    fo.write(fi.read())
            print(f'{name}: {sp.GetPieceSize()} pieces, {len(ids)} cases ({n_unk} with <unk>, {n_trunc} truncated), '
                  f'{len(cli)} spm_normalize, model {os.path.getsize(model_path)} B')


if __name__ == '__main__':
    main()
