# Test-only reference: a transcription of lmms-eval's ScienceQA scoring, the oracle that
# tests/test_scoring_mcq.py checks vlmperf.scoring.mcq against. It is not part of the vlmperf package.
#
# Source: https://github.com/EvolvingLMMs-Lab/lmms-eval
#         lmms_eval/tasks/scienceqa/utils.py at commit 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3
#         (main, 2026-08-06; file blob 65666a919d699b593d893cf80bd088e34a3a4b8e). The file has been
#         byte-identical since commit 8ada80501d0e284abc2821d3a2454e1944fc133c (PR #723, 2025-07-04),
#         the first tag holding it being v0.3.5; v0.3.4 and earlier lower-cased the prediction before
#         the "X." check, so there a "B. text" could never be right.
#         `sqa_doc_to_target` and `sqa_process_results` below are copied unchanged (comments included);
#         `score` at the end only builds the `doc` and `results` arguments the task passes.
#
# Licence of the source: the repository's LICENSE puts lmms_eval/tasks under the Apache License 2.0,
# Copyright (c) 2025 LMMs-Lab (http://www.apache.org/licenses/LICENSE-2.0).


def sqa_doc_to_target(doc):
    len_choices = len(doc["choices"])
    options = [chr(ord("A") + i) for i in range(len_choices)]
    return options[doc["answer"]]


def sqa_process_results(doc, results):
    # I know this is weird, but it's how llava parse it.
    target = sqa_doc_to_target(doc).strip().lower()
    pred = results[0].strip()
    if pred.lower() == target:
        return {"exact_match": 1.0}
    # pattern: ^[A-Z]\. .*
    if len(pred) >= 2 and pred[0].isupper() and pred[1] == ".":
        result = 1.0 if pred[0].lower() == target else 0.0
        return {"exact_match": result}
    return {"exact_match": 0.0}


def score(prediction, choices, answer):
    """lmms-eval's per-sample score (1.0 or 0.0) of one model output; `scienceqa_img` averages these."""
    return sqa_process_results({"choices": list(choices), "answer": answer}, [prediction])["exact_match"]
