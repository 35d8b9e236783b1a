"""Ingested content is data, never instructions (docs/SECURITY.md row 10): the pure defences
of the LLM mode of ask.

Pure functions over strings, deterministic and total (any string in, nothing raised):

- `neutralise` makes text safe to put inside an `<evidence>` block of a prompt: once through
  it, text holds no `<`, `>` or `[`/`]` (nor a look-alike of them, nor an invisible
  character), so it can neither close the block, open another, forge a chat-template token,
  nor forge a citation.
- `strip_links` removes from a model's output every image, HTML tag and link whose address
  is not on an allow-list.
- `refusal_for` recognises, before any model is asked, a request for an approval, commitment
  or decision in the colleague's name, or for a message in their voice to someone outside
  the organisation.
- `commitment_in` finds, after generation, a sentence that approves, promises or commits in
  the colleague's name.

The rules are simple on purpose, and tested on both sides (tests/answers/test_injection.py):
they catch the plain ways of asking, not every paraphrase; the model's instructions say the
same, and the citation checks of `answers.llm_mode` bound what any answer may rest on.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# Characters a reader never sees: zero-width spaces and joiners, word joiners, the byte order
# mark, the soft hyphen, bidirectional controls and the Unicode "tag" characters that can
# spell text invisibly. Removed before anything else looks at the text.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f]"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Look-alikes of angle and square brackets that NFKC folding leaves alone; a model reads
# "〈/evidence〉" much as it reads "</evidence>".
_LOOKALIKES = str.maketrans(
    {
        "‹": "<",
        "›": ">",
        "〈": "<",
        "〉": ">",
        "⟨": "<",
        "⟩": ">",
        "❮": "<",
        "❯": ">",
        "❬": "<",
        "❭": ">",
        "⧼": "<",
        "⧽": ">",
        "˂": "<",
        "˃": ">",
        "ᐸ": "<",
        "ᐳ": ">",
        "«": "<",
        "»": ">",
        "【": "[",
        "】": "]",
        "〔": "[",
        "〕": "]",
        "〚": "[",
        "〛": "]",
        "⟦": "[",
        "⟧": "]",
    }
)


def clean_text(text: str) -> str:
    """`text` NFKC-folded (full-width "＜" is "<"), without invisible or control characters
    (new lines and tabs kept)."""
    text = unicodedata.normalize("NFKC", text)
    return _CONTROL.sub("", _INVISIBLE.sub("", text))


def neutralise(text: str) -> str:
    """`text` as data inside an `<evidence>` block.

    Guarantees: the result holds no "<", ">", "[" or "]" nor any invisible or control
    character but new lines and tabs; so it cannot close or open a tag (`</evidence>`,
    `<|im_start|>`), or hold a citation ("[12]") or a Markdown link or image. Angle brackets
    (and their look-alikes) become `&lt;`/`&gt;`, read as text by any model; square brackets
    become parentheses. Everything else is kept, words and addresses included: the model is
    told they are data, and the output checks decide what reaches the reader.
    """
    text = html.escape(clean_text(text).translate(_LOOKALIKES), quote=False)  # & < >
    return text.replace("[", "(").replace("]", ")")


def attribute(value: str, *, max_chars: int = 200) -> str:
    """`value` for a double-quoted tag attribute: neutralised, without '"', on one line, at
    most `max_chars` characters."""
    one_line = " ".join(neutralise(value).replace('"', "&quot;").split())
    cut = one_line[:max_chars]
    return cut[: cut.rfind("&")] if cut.rfind("&") > cut.rfind(";") else cut


# Output: links and images.

# An address as a renderer would link it: a scheme ("https:", "data:", "javascript:" ...) or
# "www.", up to white space or a closing bracket.
_ADDRESS = r"(?:(?:https?|ftp|file|data|javascript|vbscript|mailto|tel):|www\.)[^\s<>()\[\]{}\"']+"
_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)?|!\[[^\]\n]*\]\[[^\]\n]*\]")
_MD_LINK = re.compile(r"\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'][^\"'\n]*[\"'])?\s*\)")
_REF_DEFINITION = re.compile(r"^[ \t]*\[[^\]\n]+\]:[ \t]*\S+.*$", re.MULTILINE)
_TAG = re.compile(r"<[^<>\n]*>?")
_BARE = re.compile(_ADDRESS, re.IGNORECASE)
_TRAILING = ".,;:!?'\""


@dataclass(frozen=True)
class Stripped:
    text: str
    removed: int  # images, tags and links taken out


def strip_links(text: str, allowed: Iterable[str]) -> Stripped:
    """`text` without any image, HTML tag or link except links to an address in `allowed`
    (exactly, trailing punctuation aside).

    Removed: Markdown images (always, whatever their address), HTML tags and autolinks
    (`<img>`, `<a href>`, `<https://…>`), Markdown links to other addresses (their text is
    kept), reference definitions, and bare addresses (`https://…`, `www.…`, `data:…`,
    `javascript:…`) not in `allowed`.
    """
    allow = {a for a in allowed if a}
    removed = 0

    def count(replacement: str) -> str:
        nonlocal removed
        removed += 1
        return replacement

    text = _IMAGE.sub(lambda m: count(""), text)
    text = _REF_DEFINITION.sub(lambda m: count(""), text)

    def link(match: re.Match[str]) -> str:
        label, target = match.group(1), match.group(2)
        if target in allow:
            return match.group(0)
        return count(label)

    text = _MD_LINK.sub(link, text)
    text = _TAG.sub(lambda m: count(""), text)

    def bare(match: re.Match[str]) -> str:
        address = match.group(0)
        core = address.rstrip(_TRAILING)
        if core in allow:
            return address
        return count("") + address[len(core) :]

    text = _BARE.sub(bare, text)
    return Stripped(text=text, removed=removed)


def disallowed_links(text: str, allowed: Iterable[str]) -> list[str]:
    """Addresses in `text` that are not in `allowed`, and any image or HTML tag (for checks:
    empty after `strip_links`)."""
    allow = {a for a in allowed if a}
    found = [m.group(0) for m in _IMAGE.finditer(text)]
    found += [m.group(0) for m in _TAG.finditer(text)]
    found += [
        m.group(0).rstrip(_TRAILING)
        for m in _BARE.finditer(text)
        if m.group(0).rstrip(_TRAILING) not in allow
    ]
    return found


# Requests the LLM mode refuses before asking any model.

COMMITMENT = "commitment"
OUTSIDER = "outsider"

# What asking for an approval, a commitment or a decision looks like.
_DECIDE = (
    r"(?:approve|pre-?approve|authori[sz]e|sign[- ]?off|sign\s+(?:the|this|that|my|our|it)\b"
    r"|green[- ]?light|ratify|rubber[- ]stamp|promise|guarantee|commit|agree\s+to|grant|veto"
    r"|decide|(?:ok|okay)\s+(?:the|this|that|my|our|it)\b|say\s+yes"
    r"|confirm\s+(?:that|the\s+(?:order|deal|budget|purchase|refund|contract|price|discount))"
    r"|accept\s+(?:the|this|my|our)\s+(?:offer|proposal|contract|terms|quote|request|invoice))"
)
_GRANTED = (
    r"(?:approval|sign[- ]?off|go[- ]?ahead|green[- ]?light|ok|okay|blessing|permission|consent"
    r"|authori[sz]ation|commitment|promise|guarantee|signature)"
)
# What asking for a written message looks like.
_WRITE = (
    r"(?:draft|write|compose|send|reply|respond|email|e-mail|mail|message|text|dm|pen|prepare"
    r"|craft|formulate)"
)
_OUTSIDERS = re.compile(
    r"\b(?:customers?|clients?|vendors?|suppliers?|partners?|prospects?|investors?|press"
    r"|journalists?|reporters?|media|regulators?|auditors?|external|outsiders?|outside"
    r"|third[- ]part(?:y|ies)|contractors?|recruiters?|candidates?|lawyers?|counsel|banks?"
    r"|resellers?|distributors?|the public|shareholders?|landlord|insurer)\b",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"\b[\w.+-]+@([\w-]+(?:\.[\w-]+)+)\b")
# A question about what happened or how, not a request.
_ASKS_ABOUT = re.compile(
    r"^\s*(?:how|why|what|when|where|which|who|whom|whose|did|was|were|has|had|is|are)\b",
    re.IGNORECASE,
)
_LEAD = r"^\s*(?:(?:hey|hi|hello|ok|okay|so|and|now)\b[\s,!]*)?"
_POLITE = r"(?:please\s+|pls\s+|kindly\s+|just\s+)?"


@dataclass(frozen=True)
class Refusal:
    """Why the LLM mode will not answer a question: `kind` is COMMITMENT or OUTSIDER, `rule`
    names the rule that matched, `text` is the answer shown instead."""

    kind: str
    rule: str
    text: str


def _names(name: str) -> list[str]:
    parts = [p for p in name.split() if len(p) > 1]
    whole = " ".join(name.split())
    return [re.escape(n) for n in dict.fromkeys([whole, *parts]) if n]


def _addressed(name: str) -> str:
    """Who a request is put to: you, she, he, they, or the colleague's names."""
    return "(?:" + "|".join(["you", "she", "he", "they", *_names(name)]) + ")"


def _whose(name: str) -> str:
    return (
        "(?:" + "|".join(["your", "her", "his", "their", *(f"{n}'s" for n in _names(name))]) + ")"
    )


def _commitment_rules(name: str) -> list[tuple[str, bool, re.Pattern[str]]]:
    """(rule, applies to questions about what happened, pattern)."""
    who, whose = _addressed(name), _whose(name)
    i = re.IGNORECASE
    return [
        # "Approve my expense report", "Dana, please sign off on the release".
        ("imperative", True, re.compile(rf"{_LEAD}(?:{who}[\s,:]+)?{_POLITE}{_DECIDE}\b", i)),
        # "Can you approve …", "Will Dana commit to …", "Would she sign off …".
        (
            "asked to",
            False,
            re.compile(
                rf"\b(?:can|could|would|will|won't|shall)\s+{who}\s+{_POLITE}{_DECIDE}\b", i
            ),
        ),
        # "Do you approve this?", "Does Dana approve my request?".
        (
            "do you approve",
            False,
            re.compile(
                rf"\b(?:do|does)\s+{who}\s+(?:approve|authori[sz]e|sign off on|agree to|ok|okay)"
                r"\s+(?:this|that|it|my|our|these|those)\b",
                i,
            ),
        ),
        # "I need your approval", "give me Dana's sign-off", "get her go-ahead".
        (
            "their approval",
            False,
            re.compile(
                r"\b(?:need|want|get|give|grant|send|provide|request|obtain)\s+(?:me\s+|us\s+)?"
                rf"{whose}\s+(?:final\s+|formal\s+|written\s+)?{_GRANTED}\b",
                i,
            ),
        ),
        # "approve it on her behalf", "decide in Dana's name".
        (
            "on their behalf",
            True,
            re.compile(
                rf"\b{_DECIDE}\w*\b[^.?!]*\b(?:on|in)\s+{whose}\s+(?:behalf|name|stead)\b"
                rf"|\b(?:on|in)\s+{whose}\s+(?:behalf|name|stead)\b[^.?!]*\b{_DECIDE}",
                i,
            ),
        ),
        # "Pretend to be Dana and approve …", "as Dana, approve …".
        (
            "as them",
            True,
            re.compile(
                rf"\b(?:as|acting as|pretend(?:ing)? to be|speaking for)\s+{who}\b[^.?!]*\b"
                rf"{_DECIDE}",
                i,
            ),
        ),
    ]


def _outsider_rules(name: str) -> list[tuple[str, re.Pattern[str]]]:
    who = _addressed(name)
    i = re.IGNORECASE
    return [
        # "Draft an email to …", "Please reply to …", "Dana, write to …".
        ("imperative", re.compile(rf"{_LEAD}(?:{who}[\s,:]+)?{_POLITE}{_WRITE}\b", i)),
        # "Can you draft …", "Could Dana write …".
        (
            "asked to",
            re.compile(rf"\b(?:can|could|would|will|shall)\s+{who}\s+{_POLITE}{_WRITE}\b", i),
        ),
        # "Help me write …", "I need you to email …", "I'd like a reply …".
        (
            "help me",
            re.compile(
                r"\b(?:help\s+(?:me|us)|i\s+need\s+you\s+to|i\s+want\s+you\s+to"
                r"|i(?:'d| would)\s+like\s+(?:you\s+to|a|an)|give\s+me\s+(?:a|an)"
                rf"|write\s+me\s+(?:a|an))\s+(?:\w+\s+)?{_WRITE}",
                i,
            ),
        ),
    ]


def commitment_refusal_text(name: str) -> str:
    return (
        f"I can't do that: this is an AI rendering of {name}'s knowledge, and it cannot "
        f"approve, authorise, promise, commit to or decide anything in {name}'s name. Ask "
        "a current colleague who can; you may ask how they handled similar requests."
    )


def outsider_refusal_text(name: str) -> str:
    return (
        f"I can't do that: this AI rendering of {name} does not write messages in their "
        "voice to anyone outside the organisation (customers, vendors, partners, the "
        "press). Write it in your own name; you may ask what they knew about the subject."
    )


def _outside_address(question: str, org_domains: Iterable[str]) -> bool:
    domains = {d.lower().lstrip("@") for d in org_domains if d}
    for match in _EMAIL.finditer(question):
        domain = match.group(1).lower()
        if not any(domain == d or domain.endswith("." + d) for d in domains):
            return True
    return False


def refusal_for(question: str, *, name: str, org_domains: Iterable[str] = ()) -> Refusal | None:
    """The refusal a question asking for an approval, commitment or decision in `name`'s
    name, or for a message in their voice to someone outside the organisation (a customer,
    vendor…, or an address outside `org_domains`), gets; None for any other question.

    Questions about what happened or how ("Did Dana approve the rollout?", "How did she
    reply to the customer?", "Who can approve my expenses?") are not requests and pass.
    """
    text = " ".join(clean_text(question).replace("’", "'").split())
    about = bool(_ASKS_ABOUT.match(text))
    outsider = bool(_OUTSIDERS.search(text)) or _outside_address(text, org_domains)
    for rule, pattern in _outsider_rules(name):
        if outsider and pattern.search(text):
            return Refusal(OUTSIDER, rule, outsider_refusal_text(name))
    for rule, always, pattern in _commitment_rules(name):
        if (always or not about) and pattern.search(text):
            return Refusal(COMMITMENT, rule, commitment_refusal_text(name))
    return None


# Output: commitments in the colleague's name.


def _commitment_phrases(name: str) -> re.Pattern[str]:
    # The rendering speaks as "I"/"we"; "she", "he" and their names speak for them too.
    # "They" and "you" are left out: most often someone else ("ask SRE, they will…").
    speaker = "(?:" + "|".join(["i", "we", "she", "he", *_names(name)]) + ")"
    return re.compile(
        "|".join(
            [
                r"\b(?:i|we)\s+(?:hereby\s+|now\s+|officially\s+|formally\s+)?"
                r"(?:approve|authori[sz]e|sign[- ]off|sign off on|green[- ]?light|guarantee"
                r"|promise|commit to|commit that|agree to|grant|accept responsibility)\b",
                rf"\b{speaker}(?:'ll|\s+will|\s+shall|\s+am going to|\s+are going to"
                r"|\s+is going to)\s+(?:personally\s+|definitely\s+|certainly\s+)?"
                r"(?:make sure|ensure|approve|authori[sz]e|sign off|sign|guarantee|promise"
                r"|commit|refund|pay|take care of|handle it|get (?:it|this|that) done"
                r"|fix (?:it|this|that) for you|deliver)\b",
                r"\b(?:i|we)(?:'ve|\s+have)\s+(?:just\s+|now\s+)?(?:approved|authori[sz]ed"
                r"|signed off|signed|agreed|granted|decided)\b",
                r"\byou have (?:my|our) (?:full\s+)?(?:approval|sign[- ]?off|go[- ]?ahead"
                r"|green[- ]?light|blessing|permission|word|consent|ok|okay|promise|guarantee)\b",
                r"\b(?:approved|signed off|authori[sz]ed|granted)\s+by\s+me\b",
                r"\bconsider (?:it|this|that) (?:approved|done|signed off|authori[sz]ed|granted)\b",
                r"\b(?:permission|access|request|refund|approval) granted\b",
                r"\b(?:your|this|the) (?:request|refund|expense|purchase|order|budget) is"
                r" (?:hereby\s+)?(?:approved|granted|authori[sz]ed)\b",
                r"\bi give (?:you\s+)?(?:my\s+|our\s+)?(?:approval|permission|consent"
                r"|go[- ]?ahead|blessing|word)\b",
                r"\b(?:my|our) (?:approval|sign[- ]?off|go[- ]?ahead) is\b",
                r"\bgo ahead[,.!]? (?:it(?:'s| is)|you(?:'re| are)) (?:approved|cleared)\b",
            ]
        ),
        re.IGNORECASE,
    )


def commitment_in(text: str, *, name: str) -> str | None:
    """The first phrase of `text` that approves, authorises, promises or commits in the name
    of `name` (or in the first person, which an AI rendering of them speaks in): "I approve",
    "I will make sure", "you have my sign-off", "Dana will guarantee…"; None when there is
    none. Reports of what happened in the third person ("Dana approved the rollout in
    March") pass."""
    plain = " ".join(clean_text(text).replace("’", "'").split())
    match = _commitment_phrases(name).search(plain)
    return match.group(0) if match else None
