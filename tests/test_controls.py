"""Controls are data: `longrm bench control --kind swap|none` and `longrm bench response-pairs`."""

import json

import pytest

from longrm.bench.control import control_items, group_donors, response_only_pairs
from longrm.cli import main
from longrm.data.context import split_prompt
from longrm.data.io import read_jsonl
from longrm.data.records import BenchItem
from longrm.errors import InputError
from tests.helpers import config_in


def synth_item(item_id, task, bucket, source, context, question="Which code opens the door?", system=False):
    msgs = [{"role": "user", "content": f"{context}\n\nQuestion: {question}"}]
    if system:
        msgs.insert(0, {"role": "system", "content": "Answer from the documents."})
    return {
        "id": item_id,
        "task": task,
        "tasktype": "PairWise",
        "subtype": "same",
        "question": question,
        "prompt_template": msgs,
        "chosen": f"good {item_id}",
        "rejected": f"bad {item_id}",
        "ctx_length_for_length": bucket,
        "length": 100 + len(item_id),
        "source_id": source,
        "difficulty": "hard",
    }


def fixture_items():
    items = []
    for task in ("LongQA", "Code"):
        for bucket in ("512", "1k"):
            for s in range(5):  # 5 sources x 2 items: siblings share evidence
                for v in range(2):
                    src = f"{task}-{bucket}-s{s}"
                    items.append(
                        synth_item(
                            f"{src}-{v}", task, bucket, src, f"Doc one.\n\nEvidence of {src}: code {s}{v}.\n\nDoc two."
                        )
                    )
    items.append(synth_item("alone-0", "Math", "2k", "alone", "The only Math item at 2k."))
    return items


def write(path, items):
    path.write_text("".join(json.dumps(it) + "\n" for it in items))
    return path


def test_swap_keeps_task_and_bucket_and_never_gives_an_item_its_own_or_a_sibling_context(tmp_path):
    items = fixture_items()
    src = write(tmp_path / "bench.jsonl", items)
    out, report = control_items(src, "swap", seed=7)
    by_id = {it["id"]: it for it in items}
    assert report["left_out"] == {"Math/2k": ["alone-0"]} and report["items_out"] == len(items) - 1
    assert [o["id"] for o in out] == [it["id"] for it in items if it["id"] != "alone-0"]  # file order
    donors = [o["context_from"] for o in out]
    assert sorted(donors) == sorted(o["id"] for o in out)  # a permutation: every context used once
    for o in out:
        own, donor = by_id[o["id"]], by_id[o["context_from"]]
        assert (donor["task"], donor["ctx_length_for_length"]) == (own["task"], own["ctx_length_for_length"])
        assert donor["source_id"] != own["source_id"]
        content = o["prompt_template"][0]["content"]
        assert (
            content == donor["prompt_template"][0]["content"].rsplit("\n\n", 1)[0] + "\n\nQuestion: " + own["question"]
        )
        assert f"Evidence of {own['source_id']}:" not in content
        assert o["context_length"] == donor["length"] and o["control"] == "swap"
        # everything but the prompt is the item's own
        rest = {k: v for k, v in o.items() if k not in ("prompt_template", "control", "context_from", "context_length")}
        assert rest == {k: v for k, v in own.items() if k != "prompt_template"}


def test_swap_is_deterministic_bytes_independent_of_file_order_and_seeded(tmp_path):
    items = fixture_items()
    a = write(tmp_path / "a.jsonl", items)
    b = write(tmp_path / "b.jsonl", list(reversed(items)))
    donors = lambda path, seed: {o["id"]: o["context_from"] for o in control_items(path, "swap", seed)[0]}  # noqa: E731
    assert donors(a, 7) == donors(b, 7)
    assert donors(a, 7) != donors(a, 8)
    cfg = config_in(tmp_path)
    outs = []
    for k in range(2):
        out = tmp_path / f"swap{k}.jsonl"
        assert (
            main(
                [
                    "bench",
                    "control",
                    "--config",
                    str(cfg),
                    "--kind",
                    "swap",
                    "--bench",
                    str(a),
                    "--out",
                    str(out),
                    "--report",
                    str(tmp_path / f"swap{k}.report.json"),
                ]
            )
            == 0
        )
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert (tmp_path / "swap0.jsonl.prov.json").exists()
    assert all(BenchItem.from_dict(o).id for o in read_jsonl(tmp_path / "swap0.jsonl"))


def test_a_group_of_one_source_cannot_swap_and_says_so():
    items = [BenchItem.from_dict(synth_item(f"s-{v}", "Cite", "512", "s", f"ctx {v}")) for v in range(3)]
    donors, left_out = group_donors(items, 1, ("Cite", "512"))
    assert donors == {} and left_out == ["s-0", "s-1", "s-2"]
    # one source holding most of the group: only its surplus is left out, the rest still swaps
    items.append(BenchItem.from_dict(synth_item("t-0", "Cite", "512", "t", "other")))
    donors, left_out = group_donors(items, 1, ("Cite", "512"))
    assert all(d != i for i, d in donors.items()) and len(donors) + len(left_out) == 4 and "t-0" in donors


def test_nocontext_removes_the_context_and_nothing_else(tmp_path):
    items = fixture_items()
    items[0] = synth_item("sys-0", "LongQA", "512", "x", "Doc.\n\nMore doc.", system=True)
    out, report = control_items(write(tmp_path / "bench.jsonl", items), "none", seed=7)
    assert report["items_out"] == len(items)
    for o, it in zip(out, items):
        user = [m for m in o["prompt_template"] if m["role"] != "system"]
        assert user == [{"role": "user", "content": f"Question: {it['question']}"}]
        assert o["control"] == "none" and o["context_from"] is None
        assert {k: v for k, v in o.items() if k not in ("prompt_template", "control", "context_from")} == {
            k: v for k, v in it.items() if k != "prompt_template"
        }
    assert out[0]["prompt_template"][0] == {"role": "system", "content": "Answer from the documents."}


def test_official_schema_item_with_a_template_around_the_context():
    obj = {
        "id": "LongQA-3",
        "task": "LongQA",
        "tasktype": "PairWise",
        "question": "Who won?",
        "chosen": "x",
        "rejected": "y",
        "prompt_template": [
            {"role": "system", "content": "You are helpful."},
            {
                "role": "user",
                "content": "Read the documents.\n\n<doc>A long text.</doc>\n\nNow answer: Who won?\nAnswer briefly.",
            },
        ],
    }
    split = split_prompt(BenchItem.from_dict(obj))
    assert split.tail == "Now answer: Who won?\nAnswer briefly."
    assert split.without_context() == [obj["prompt_template"][0], {"role": "user", "content": split.tail}]


def test_an_item_whose_question_is_not_in_its_prompt_is_an_error_naming_line_and_field(tmp_path):
    items = fixture_items()[:3]
    items[2]["question"] = "A question the prompt never asks"
    with pytest.raises(InputError) as err:
        control_items(write(tmp_path / "bench.jsonl", items), "none", seed=1)
    assert err.value.line == 3 and err.value.field == "question" and "bench.jsonl" in err.value.path


def test_response_pairs_keep_the_question_and_the_responses(tmp_path):
    pairs = tmp_path / "disrm.jsonl"
    rec = {
        "id": "p1",
        "prompt": "Doc a.\n\nDoc b.\n\nQuestion: what?",
        "chosen": "c",
        "rejected": ["r1", "r2"],
        "source_id": "s",
    }
    pairs.write_text(json.dumps(rec) + "\n")
    [out] = response_only_pairs(pairs)
    assert out == {**rec, "prompt": "Question: what?", "control": "none"}
    cfg = config_in(tmp_path)
    assert (
        main(
            [
                "bench",
                "response-pairs",
                "--config",
                str(cfg),
                "--pairs",
                str(pairs),
                "--out",
                str(tmp_path / "out.jsonl"),
            ]
        )
        == 0
    )
    assert read_jsonl(tmp_path / "out.jsonl") == [out]


def test_bench_sets_default_from_the_schema_and_checked(tmp_path):
    import yaml

    from longrm.bench.sets import bench_sets
    from longrm.config import load_config
    from longrm.errors import ConfigError

    cfg = load_config(config_in(tmp_path))
    sets = {s.name: s for s in bench_sets(cfg)}
    assert list(sets) == ["heldout", "swap", "nocontext", "short"]  # the schema's default list
    assert sets["heldout"].file == f"{tmp_path}/splits/bench.jsonl" and "random" in sets["heldout"].models
    assert sets["swap"].control == "swap" and sets["swap"].file == f"{tmp_path}/controls/swap.jsonl"
    assert "base-pointwise" in sets["swap"].models and "disrm-response" not in sets["swap"].models
    assert "random" not in sets["swap"].models and sets["swap"].share == 1.0
    raw = yaml.safe_load(config_in(tmp_path).read_text())
    raw["bench"]["sets"] = [
        {"name": "heldout", "file": "splits/bench.jsonl"},
        {"name": "short", "file": "/data/short.jsonl", "models": ["base-pointwise", "logo-pointwise"]},
        {"name": "swap", "control": "swap", "of": "heldout", "models": ["nope"]},
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"bench.sets.2.models.*'nope'"):
        bench_sets(load_config(bad))
    raw["bench"]["sets"][2] = {"name": "swap", "control": "swap", "of": "missing"}
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"bench.sets.2.of"):
        bench_sets(load_config(bad))
    raw["bench"]["sets"][2]["of"] = "short"
    bad.write_text(yaml.safe_dump(raw))
    assert bench_sets(load_config(bad))[1].file == "/data/short.jsonl"  # an absolute file set is used as is


@pytest.mark.parametrize("kind", ["swap", "none"])
def test_a_control_share_keeps_that_share_of_every_task_and_bucket_with_the_same_donors(tmp_path, kind):
    """share 0.5: half of each (task, bucket) group, chosen by a seeded hash of the id (the same items
    whatever the file order, others for another seed), each with the record it has at share 1."""
    items = fixture_items()
    src = write(tmp_path / "bench.jsonl", items)
    full = {o["id"]: o for o in control_items(src, kind, seed=7)[0]}
    half, report = control_items(src, kind, seed=7, share=0.5)
    assert report["share"] == 0.5 and report["items_out"] == len(half)
    groups = {}
    for o in half:
        groups.setdefault((o["task"], o["ctx_length_for_length"]), []).append(o["id"])
        assert o == full[o["id"]]  # same record, same donor
    assert {k: len(v) for k, v in groups.items() if k[0] != "Math"} == {
        (t, b): 5 for t in ("LongQA", "Code") for b in ("512", "1k")
    }
    kept = {o["id"] for o in half}
    reversed_file = write(tmp_path / "rev.jsonl", list(reversed(items)))
    assert {o["id"] for o in control_items(reversed_file, kind, seed=7, share=0.5)[0]} == kept
    assert {o["id"] for o in control_items(src, kind, seed=8, share=0.5)[0]} != kept
    with pytest.raises(ValueError, match="share"):
        control_items(src, kind, seed=7, share=0.0)
