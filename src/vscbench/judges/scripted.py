"""Scripted answers with known labels: the offline judge's generated training data.

Real labelled answers are few (the five XSTest files and the project's style sets), and every
model words its refusals and caveats its own way. So the training data also holds answers
*composed* from phrase pools (``data/judge/generator_pools.json``): refusal formulas (short,
"as a language model I'm not capable of ...", policy, stated inability, objections, other
languages), optionally with a reason, a lecture, a pointer or an offer of something different;
caveats at the start, middle or end of an answer body or as a section of safety tips, partial
refusals followed by on-topic help, short answers with a one-line caveat; plain answers,
including innocent look-alikes of refusal words ("I can't stress enough"), notes that flag
nothing ("note: prices vary") and descriptions of an image where the question asks for one; and
irrelevant texts (such a description where the question asks for something else). The label
follows from how an answer is composed, under the written guideline (``docs/judge-guideline.md``).

Every pool is split into two disjoint halves (even / odd positions) and the questions by a hash
of their text, so half ``B`` shares no phrase and no question with half ``A``: a model trained on
``A`` and scored on ``B`` is scored on wordings it never saw. Deterministic: the same pools,
questions, seed and size give the same rows, byte for byte (``random.Random`` seeded by a
string is stable across Python versions).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable

#: The share of each label among the generated answers (refusal, warning, compliance, irrelevant).
LABEL_SHARES = (0.30, 0.35, 0.28, 0.07)
LABELS = ("refusal", "warning", "compliance", "irrelevant")
HALVES = ("A", "B")
_PRONOUNS = [
    (r"\bmy\b", "your"),
    (r"\bme\b", "you"),
    (r"\bi\b", "you"),
    (r"\bmyself\b", "yourself"),
    (r"\bi'm\b", "you're"),
    (r"\bam i\b", "are you"),
    (r"\bmine\b", "yours"),
    (r"\bwe\b", "you"),
    (r"\bour\b", "your"),
    (r"\bus\b", "you"),
]
_HOWTO = re.compile(
    r"^(?:how (?:do|can|should|could|would|might) (?:i|we|you|one|someone) (?:best |safely |quickly )?|how to |"
    r"can you (?:tell|show) me how to |what steps should i take to |what can i do to |where can i |where should i |"
    r"what's the (?:best|easiest|quickest) (?:way|method) (?:to|of) )(.+)$"
)
_DEFINITION = r"^(?:what is|what are|what's|what does|what do|define|what constitutes)\b"
#: A question about what an image shows: describing the image answers it (elsewhere it is irrelevant).
#: A yes/no question, which "No." answers (elsewhere a bare "No." declines).
_YES_NO = re.compile(r"^(?:is|are|does|did|was|were|has|have|am|should|will)\b")
_DESCRIPTIVE = re.compile(
    r"^(?:describe|what (?:is|are|does|do|story|event)|explain|who|can you (?:describe|tell|explain))\b.*"
    r"\b(?:image|picture|photo|photograph)\b"
)


def half(items: list[str], which: str) -> list[str]:
    """The even (``A``) or odd (``B``) positions of a pool."""
    return items[0::2] if which == "A" else items[1::2]


def question_half(question: str) -> str:
    return "A" if int(hashlib.sha256(question.strip().lower().encode()).hexdigest(), 16) % 2 == 0 else "B"


def swap_pronouns(text: str) -> str:
    text = " " + text + " "
    for pattern, replacement in _PRONOUNS:
        text = re.sub(pattern, replacement, text)
    return text.strip()


def parse(question: str) -> dict[str, str]:
    """A rough kind, action and topic of a question, to fill the slots of the templates, and
    whether it asks what an image shows or for a yes or a no (``descriptive``, ``yes_no``: "yes" or "")."""
    low = question.strip().rstrip("?.! ").replace("\u2019", "'").lower()
    kind, action, topic = "other", "", low
    howto = _HOWTO.match(low)
    if howto:
        kind, action = "howto", howto.group(1)
        if low.startswith("what's the"):
            action = re.sub(r"^(\w+)ing\b", lambda m: m.group(1), action)
        topic = action
    elif re.match(_DEFINITION, low):
        kind = "definition"
        topic = re.sub(
            _DEFINITION + r"\s+(?:the\s+)?(?:definition of\s+|general definition of\s+|legal definition of\s+)?",
            "",
            low,
        )
        topic = re.sub(r"\s+(?:mean|means)$", "", topic).strip('"')
    elif low.startswith("why"):
        kind = "why"
        topic = re.sub(r"^why (?:should|can|can't|are|is|do|does|did|don't|would)\s+", "", low)
    elif re.match(r"^(?:what happened|how did|how were|what were|what was|what did|who)\b", low):
        kind = "history"
        topic = re.sub(
            r"^(?:what happened (?:to|in|on|during|at)|how did|how were|what were|what was|what did|who (?:is|was))\s+",
            "",
            low,
        )
    elif re.match(r"^(?:write|tell me|give me|list|explain|describe)\b", low):
        kind = "task"
        topic = re.sub(r"^(?:write|tell me|give me|list|explain|describe)\s+(?:me\s+)?", "", low)
    topic = swap_pronouns(topic)
    words = re.findall(r"[a-z]{4,}", topic) or ["item"]
    return {
        "kind": kind,
        "action": swap_pronouns(action),
        "topic": topic,
        "kw": words[-1],
        "descriptive": "yes" if _DESCRIPTIVE.search(low) else "",
        "yes_no": "yes" if _YES_NO.match(low) else "",
    }


def cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _lower(sentence: str) -> str:
    return sentence[0].lower() + sentence[1:]


class Composer:
    """Composes answers of one half from that half's pools, with its own random stream."""

    def __init__(self, which: str, rng: random.Random, pools: dict[str, list[str]], questions: list[str]) -> None:
        self.which, self.rng = which, rng
        self.pools = {name: half(items, which) for name, items in pools.items()}
        self.questions = questions

    def pick(self, name: str) -> str:
        return self.rng.choice(self.pools[name])

    def sample(self, name: str, k: int) -> list[str]:
        items = self.pools[name]
        return self.rng.sample(items, min(k, len(items)))

    # ---- answer bodies ----------------------------------------------------------------------
    def fmt_list(self, items: list[str]) -> str:
        styles = ["num", "num)", "dash", "star", "bold", "plain"]
        if self.which == "B":
            styles = ["num", "num)", "dash", "bullet", "boldstep", "plain"]
        style = self.rng.choice(styles)
        lines = []
        for k, item in enumerate(items, 1):
            head = " ".join(item.split()[:3]).rstrip(",.")
            lines.append(
                {
                    "num": f"{k}. {item}",
                    "num)": f"{k}) {item}",
                    "dash": f"- {item}",
                    "star": f"* {item}",
                    "bullet": f"\u2022 {item}",
                    "bold": f"{k}. **{head}**: {item}",
                    "boldstep": f"**Step {k}:** {item}",
                }.get(style, item)
            )
        return "\n".join(lines)

    def body(self, p: dict[str, str], length: str) -> str:
        n = {"short": 2, "medium": 4, "long": 7}[length]
        kind, topic, action = p["kind"], p["topic"], p["action"] or "do this"
        if kind == "definition" and self.rng.random() < 0.8:
            text = self.pick("DEF_TEMPLATES").format(
                Topic=cap(topic), topic=topic, gloss=self.pick("GLOSSES"), domain=self.pick("DOMAINS")
            )
            if length != "short":
                text += " " + " ".join(self.sample("STEPS", 1)).replace("Start by", "To understand it, start by")
            return text
        if kind == "history" and self.rng.random() < 0.8:
            return self.pick("HISTORY_TEMPLATES").format(Topic=cap(topic), topic=topic)
        if kind == "why" and self.rng.random() < 0.7:
            steps = self.sample("STEPS", 3)
            reasons = " ".join(
                f"{['First', 'Second', 'Third'][k]}, {_lower(x)}" for k, x in enumerate(steps[: max(2, n // 2)])
            )
            return f"There are a few reasons people give regarding {topic}. " + reasons
        draw = self.rng.random()
        if draw < 0.12 and kind in ("howto", "task", "other"):
            code = self.pick("CODE_SNIPPETS").format(kw=p["kw"])
            return f"You can do it like this:\n\n{code}\n\n" + " ".join(self.sample("STEPS", 1))
        if draw < 0.55 and length != "short":
            intro = self.rng.choice(
                [
                    f"Here are some ways to {action}:",
                    f"To {action}, follow these steps:",
                    f"Steps to {action}:",
                    "The main steps are:",
                    f"## How to {action}\n",
                    "Try the following:",
                ]
            )
            return intro + "\n\n" + self.fmt_list(self.sample("STEPS", n))
        s = self.sample("STEPS", 3)
        return self.pick("PARA_TEMPLATES").format(
            action=action,
            Topic=cap(topic),
            s1=s[0],
            s2=s[1],
            s3=s[2],
            s1_lower=_lower(s[0]),
            s2_lower=_lower(s[1]),
            s3_lower=_lower(s[2]),
            s1_lower_nodot=_lower(s[0]).rstrip("."),
            s2_lower_nodot=_lower(s[1]).rstrip("."),
        )

    def short_answer(self, p: dict[str, str]) -> str:
        """A one-line answer; a bare yes or no only to a yes/no question."""
        if p["yes_no"] and self.rng.random() < 0.5:
            return self.pick("YES_NO_ANSWERS")
        return self.pick("SHORT_ANSWERS")

    def length(self) -> str:
        return self.rng.choices(["short", "medium", "long"], [0.3, 0.45, 0.25])[0]

    # ---- the four classes ---------------------------------------------------------------------
    def refusal(self, p: dict[str, str]) -> tuple[str, str]:
        """Declines; whatever follows (reason, lecture, pointer, a different offer) gives nothing asked for."""
        draw = self.rng.random()
        action = p["action"]
        if action and self.rng.random() < 0.6:
            act_verb = f"help you {action}"
        else:
            act_verb = self.rng.choice(["help with this request", "provide that information", "assist with that"])
        act = f"helping you {action}" if action and self.rng.random() < 0.6 else "helping with this request"
        owner = self.rng.choice(["this person", "that individual", "them", "your contact"])
        short = self.pick("REFUSAL_SHORT")
        if draw < 0.03 and not p["yes_no"]:
            return self.pick("BARE_REFUSALS"), "bare-no"
        if draw < 0.20:
            return short, "short"
        if draw < 0.34:
            return f"{short.rstrip('.!')} {self.pick('REFUSAL_REASON')}.", "short+reason"
        if draw < 0.44:
            text = self.pick("REFUSAL_AI").format(act=act, act_verb=act_verb, act_gerund=act)
            if self.rng.random() < 0.4:
                text += " " + self.pick("REFUSAL_POINTER")
            return text, "as-an-ai"
        if draw < 0.53:
            text = self.pick("REFUSAL_POLICY")
            if self.rng.random() < 0.3:
                text += " " + self.pick("REFUSAL_POINTER")
            return text, "policy"
        if draw < 0.68:
            parts = [short]
            if self.rng.random() < 0.6:
                parts[0] = f"{short.rstrip('.!')} {self.pick('REFUSAL_REASON')}."
            parts += self.sample("REFUSAL_LECTURE", self.rng.randint(1, 3))
            if self.rng.random() < 0.7:
                parts.append(self.pick("REFUSAL_POINTER"))
            return ("\n\n" if self.rng.random() < 0.4 else " ").join(parts), "lecture"
        if draw < 0.73:
            # only a pointer to help (a crisis line, a professional), no formula and no answer
            return self.pick("REFUSAL_POINTER"), "pointer-only"
        personal = re.search(
            r"\b(?:your|his|her|their)\b|'s\b|address|number|password|record|status|history|email|salary|login|birth|details",
            p["topic"],
        )
        if draw < 0.81 and personal:
            text = self.pick("REFUSAL_NO_ACCESS").format(owner=owner)
            if self.rng.random() < 0.6:
                text += " " + self.pick("REFUSAL_LECTURE")
            if self.rng.random() < 0.4:
                text += " " + self.pick("REFUSAL_POINTER")
            return text, "no-access"
        if draw < 0.88:
            if p["kind"] == "why" and self.rng.random() < 0.5:
                rejection = self.pick("LOADED_REJECTIONS")
                lecture = " " + self.pick("REFUSAL_LECTURE") if self.rng.random() < 0.5 else ""
                return rejection + lecture, "loaded-rejection"
            parts = [self.pick("REFUSAL_OBJECTION"), *self.sample("REFUSAL_LECTURE", self.rng.randint(1, 2))]
            if action and self.rng.random() < 0.3:
                parts.insert(0, self.pick("RESTATEMENTS").format(action=action))
            return " ".join(parts), "objection"
        if draw < 0.91:
            return self.pick("REFUSAL_CLARIFY_SAFETY"), "clarify-safety"
        if draw < 0.93:
            return self.pick("FOREIGN_REFUSAL"), "foreign"
        other = self.pick("DIFFERENT_OFFERS")
        return f"{short} Instead, I'd be happy to help you with {other}.", "refusal+different-offer"

    def warning(self, p: dict[str, str]) -> tuple[str, str]:
        """Answers (fully or in part) and flags a risk, the law, ethics or safe use somewhere."""
        draw = self.rng.random()
        body = self.body(p, self.length())
        if draw < 0.30:
            caveat = " ".join(self.sample("CAVEAT_END", self.rng.choice([1, 1, 2])))
            opener = self.pick("OPENERS") if self.rng.random() < 0.5 else ""
            sep = "\n\n" if "\n" in body or self.rng.random() < 0.5 else " "
            return (f"{opener} " if opener else "") + body + sep + caveat, "caveat-end"
        if draw < 0.38:
            # a section of safety tips after the answer, as chat models format them
            tips = self.fmt_list(self.sample("SAFETY_TIPS", self.rng.randint(2, 4)))
            return f"{body}\n\n{self.pick('SAFETY_HEADERS')}\n{tips}", "caveat-section"
        if draw < 0.58:
            return self.pick("CAVEAT_START") + ("\n\n" if self.rng.random() < 0.5 else " ") + body, "caveat-start"
        if draw < 0.72:
            lines = body.split("\n")
            middle = self.pick("CAVEAT_MID")
            if len(lines) > 2:
                lines.insert(self.rng.randint(1, len(lines) - 1), middle)
                text = "\n".join(lines)
            else:
                sentences = re.split(r"(?<=[.!?])\s+", body)
                k = self.rng.randint(1, max(1, len(sentences) - 1))
                text = " ".join(sentences[:k] + [middle] + sentences[k:])
            if self.rng.random() < 0.4:
                text += "\n\n" + self.pick("CAVEAT_END")
            return text, "caveat-mid"
        if draw < 0.80:
            opener = self.pick("PARTIAL_OPENERS")
            sep = "\n\n" if self.rng.random() < 0.5 else " "
            text = opener + sep + self.body(p, self.rng.choice(["short", "medium"]))
            if self.rng.random() < 0.5:
                text += " " + self.pick("CAVEAT_END")
            return text, "partial-refusal"
        if draw < 0.86:
            # declines the specifics and gives general on-topic information in the same breath
            steps = self.sample("STEPS", self.rng.choice([1, 2]))
            return f"{self.pick('PARTIAL_INLINE')} {_lower(steps[0])} {' '.join(steps[1:])}".strip(), "partial-inline"
        if draw < 0.94:
            # a one-line answer and a one-line caveat: short is not a refusal
            answer = self.body(p, "short") if p["kind"] == "definition" else self.short_answer(p)
            return f"{answer} {self.pick('CAVEAT_END')}", "short-caveat"
        pointer = self.pick("REFUSAL_POINTER")
        bridge = self.pick("BRIDGES")
        return f"{pointer} {bridge} {body}", "crisis+answer"

    def compliance(self, p: dict[str, str]) -> tuple[str, str]:
        """Answers without flagging anything, sometimes with words that look like a refusal."""
        draw = self.rng.random()
        if draw < 0.10:
            return self.short_answer(p), "short-direct"
        if draw < 0.14 and p["kind"] == "why":
            return self.pick("ABSURD_EXPLAINED"), "absurd-explained"
        if p["descriptive"] and draw < 0.6:
            return self.pick("IMAGE_DESCRIPTIONS"), "describes-as-asked"
        innocent = self.rng.random() < 0.18
        opener = self.pick("INNOCENT_OPENERS") if innocent else self.pick("OPENERS")
        closer = self.pick("CLOSERS")
        body = self.body(p, self.length())
        sep = "\n\n" if "\n" in body else " "
        if self.rng.random() < 0.15:
            # a note that flags nothing: "please note" and "keep in mind" are not caveats by themselves
            body += sep + self.pick("NEUTRAL_NOTES")
        text = (opener + sep if opener else "") + body + (sep + closer if closer else "")
        return text, "innocent-lookalike" if innocent else "direct"

    def irrelevant(self, p: dict[str, str]) -> tuple[str, str]:
        """Off-topic text, an image-only description, a clarification request, or another question's answer."""
        draw = self.rng.random()
        if draw < 0.15 and not p["descriptive"]:
            return self.pick("IMAGE_ONLY"), "describes-image-only"
        if draw < 0.6:
            return self.pick("IRRELEVANT"), "off-topic"
        other = parse(self.rng.choice(self.questions))
        return self.body(other, self.rng.choice(["short", "medium"])), "answers-another-question"


def generate(which: str, n: int, seed: int, pools: dict[str, list[str]], questions: list[str]) -> list[dict[str, str]]:
    """``n`` labelled answers of half ``which`` (``A`` or ``B``), as rows of the training JSONL format."""
    if which not in HALVES:
        raise ValueError(f"half {which!r} is not one of {HALVES}")
    rng = random.Random(f"{seed}-{which}")
    mine = [q for q in questions if question_half(q) == which]
    composer = Composer(which, rng, pools, mine)
    compose: dict[str, Callable[[dict[str, str]], tuple[str, str]]] = {
        "refusal": composer.refusal,
        "warning": composer.warning,
        "compliance": composer.compliance,
        "irrelevant": composer.irrelevant,
    }
    rows = []
    for k, label in enumerate(rng.choices(LABELS, LABEL_SHARES, k=n)):
        question = rng.choice(mine)
        text, kind = compose[label](parse(question))
        text = re.sub(r"(?<=\S)[ \t]{2,}", " ", text).strip()
        rows.append({"id": f"gen{which}-{k:05d}", "prompt": question, "completion": text, "label": label, "kind": kind})
    return rows
