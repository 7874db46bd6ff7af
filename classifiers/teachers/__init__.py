"""Teachers: where the scorers' training labels come from, beside the LLM judge.

The judge (classifiers/judge/) stays the main teacher: with a real Llama behind `backend: openai`
its labels are what Llama 3 distilled into its classifiers. Offline, the 135M judge labels a
budget of the sample (`train-scorers.judge_budget`) and carries little signal (bench/teachers.py),
so teachers that need no LLM label the rest for free:

| teacher | file | scorer(s) | labels |
|---|---|---|---|
| `judge` | (classifiers/judge) | quality, code, reasoning (topic without WebOrganizer) | the sampled documents within the judge budget |
| `code-lf` | code_lf.py | code-score | sampled documents: the code labelling functions of classifiers/domain_signals.py (code blocks, prompts, code-like lines, programming keywords) |
| `math-lf` | math_lf.py | reasoning-score | sampled documents: the math labelling functions (MathML/LaTeX, equations, math vocabulary, computer-algebra sessions) |
| `references` | references.py | quality-fasttext | extra positives: human-extracted article bodies (and, when configured, WikiText or any text set) |
| `rule-drops` | rule_drops.py | quality-fasttext | extra negatives: pages this run's rule filters dropped (their dropped/ rows keep the text and the reason) |
| `weborganizer` | weborganizer.py | topic | WebOrganizer's 24-topic labels, when the (test-use-only) file is present |

A labelling function teacher votes positive on strong signal, negative on strong absence, and
abstains in between (its thresholds are in its file); a document it abstains on is left out unless
the judge labelled it.

THE COMBINATION RULE (combine.py), per sampled document and binary scorer:
1. the judge's label, when the judge labelled the document and is confident: the probability it
   puts on the side of its label (P(label >= positive_min), from its label-token probabilities) is
   at least `judge_confidence` (default 0.8). A judge binarised by rank (`positive_quantile`: a
   small judge whose absolute scale carries no signal) is never confident;
2. else the teachers' label, when the task's teachers vote and agree;
3. else the judge's (unconfident) label;
4. else the document is not trained on.
Then the scorer's training set is those labelled documents plus the teachers' own examples
(quality: reference positives and rule-drop negatives). Every training example names the teacher
that labelled it, and train-scorers reports `teachers: {name: documents}` in its facts (the run's
summary.json, report.html) and in each artifact's metrics.json.

When a scorer's combined labels cannot train it (a class under `min_class_examples`: a crawl sample
holds few code or math pages), the scorer uses its shipped default artifact
(classifiers/default_artifacts/, made by scripts/build_default_artifacts.py from the same teachers
over licensed data); topic has no shipped default (WebOrganizer's data may not be redistributed).
"""
from classifiers.teachers.combine import JUDGE, JudgeVote, combine, judge_votes

__all__ = ["JUDGE", "JudgeVote", "combine", "judge_votes"]
