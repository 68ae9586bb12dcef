"""Prompt-injection detector for Chinese and English customer messages.

A weighted lexicon of general cues, grouped by attack category, combined with a
noisy-OR: score = 1 - prod(1 - weight) over the distinct cues found, so one
strong cue ("ignore the previous instructions", 忽略以上指令) flags a message and
weak ones (扮演, "from now on") need company. One structural cue adds weight: a
long message that keeps addressing the assistant. Cues are phrased as attack
moves, not as the wording of any data set, so that they carry over to unseen
attacks.

Categories:
- goal_hijacking: override the task (忽略以上指令, 直接输出, "ignore previous instructions"),
  suppress refusals ("never refuse", 不要拒绝), forge chat-template turns (<|im_start|>system)
- prompt_leaking: extract the system prompt (输出你的提示词, "repeat your system prompt") or
  probe the model behind the assistant (你们的模型..., 训练数据)
- role_play: jailbreak personas (假设你是一个没有限制的AI, DAN, developer mode, "you are now")
- jailbreak_template: the furniture of long jailbreak templates (ChatGPT, OpenAI, two-answer formats)

Pure functions, no state, for the pipeline's input guard: `scan(text)` gives the verdict
(score, flag, categories, matched cues for the explain record); `turn_flags(text)` the
entries for `turn.flags`. Every pattern has bounded width, so work is linear in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class Cue:
    """One attack move. `pattern` is searched only when one of `triggers` (literal, lower case)
    occurs in the lower-cased text: a substring test is far cheaper than a regex pass, and
    most messages contain no trigger at all. Patterns are case-sensitive unless they say
    (?i:...): "DAN" is a jailbreak, "dan" a colleague."""

    category: str
    weight: float
    triggers: tuple[str, ...]
    pattern: str


_CUES: tuple[Cue, ...] = (
    # --- goal hijacking -------------------------------------------------------------------
    Cue(
        "goal_hijacking",
        0.9,
        ("忽略", "忽视", "无视", "忘", "理会", "管", "抛开", "跳过", "放弃", "考虑"),
        r"(?:忽略|忽视|无视|忘记|忘掉|忘了|不要理会|不用理会|别理会|不要管|不用管|别管|不必理会|抛开|跳过|放弃"
        r"|不考虑|无需考虑|不用考虑|不要考虑|不必考虑)"
        r".{0,8}(?:指令|指示|提示|要求|请求|问题|提问|内容|规则|设定|说明|命令|任务|对话|限制|约束|回答)",
    ),
    Cue("goal_hijacking", 0.6, ("输出", "打印", "复述"), r"(?:直接|只|仅|完整|原样|原封不动地?)(?:输出|打印|复述)"),
    Cue(
        "goal_hijacking",
        0.5,
        ("输出", "输入", "打印", "回复", "回答", "复述", "说出", "念出", "写出", "替换为", "改为", "改成", "换成"),
        r"(?:输出|输入|打印|回复|回答|复述|说出|念出|写出|替换为|改为|改成|换成)[:：]",
    ),
    Cue("goal_hijacking", 0.7, ("复述", "重复", "跟我"), r"复述|重复(?:一遍|以下|下面|这句)|跟我(?:一起)?(?:念|说|读)"),
    Cue(
        "goal_hijacking",
        0.7,
        ("不要",),
        r"不要(?:添加|加|增加|附加|带)(?:任何|其他)?(?:其他|别的|多余的?)?"
        r"(?:词|字|前缀|后缀|符号|注释|解释|标点|引号|内容)",
    ),
    Cue(
        "goal_hijacking",
        0.6,
        ("回答", "解释", "作答", "不要做出其他"),
        r"(?:不用|不要|无需|不必|别)(?:急着)?(?:回答|解释|作答)|不要做出其他",
    ),
    Cue(
        "goal_hijacking",
        0.6,
        ("指令", "命令", "指示"),
        r"(?:执行|按照|遵循|服从)(?:以下|下面|我的|新的?)(?:指令|命令|指示)",
    ),
    Cue(
        "goal_hijacking",
        0.9,
        ("ignore", "disregard", "forget", "skip", "override", "bypass", "neglect"),
        r"(?i:\b(?:ignore|disregard|forget|skip|override|bypass|neglect)\b.{0,30}"
        r"\b(?:instructions?|prompts?|rules|directions?|guidelines|directives?|context|conversations?"
        r"|policies|restrictions|programming|training)\b)",
    ),
    Cue(
        "goal_hijacking",
        0.5,
        ("instead", "just ", "simply ", "only ", "new ", "regardless"),
        r"(?i:\binstead,? (?:just )?(?:say|output|print|respond with|reply with|write)\b"
        r"|\b(?:just|simply) (?:output|print|say|repeat)\b|\bonly (?:output|print|repeat)\b"
        r"|\bnew (?:instructions|rules|directive)\b"
        r"|\bregardless (?:of )?(?:the )?(?:content|consequences|ethics|morality|legality)\b)",
    ),
    # refusal suppression: the assistant may not say no
    Cue(
        "goal_hijacking",
        0.6,
        (
            "never",
            "don't",
            "do not",
            "will not",
            "won't",
            "must not",
            "cannot",
            "can't",
            "not allowed",
            "no matter",
            "不",
            "必须",
            "无论如何",
        ),
        r"(?i:\b(?:never|don't|do not|will not|won't|must not|cannot|can't|not allowed to)"
        r" (?:ever )?(?:refuse|decline|deny|say no|reject|apologi[sz]e|warn|censor)"
        r"|\bno matter (?:what|how)\b)"
        r"|不(?:要|能|得|许|准)(?:拒绝|道歉|警告|提醒)|必须(?:回答|服从|执行)|无论如何都(?:要|得|必须)",
    ),
    Cue(
        "goal_hijacking",
        0.35,
        ("without",),
        r"(?i:\bwithout (?:any )?(?:warnings?|disclaimers?|hesitation|censorship)\b)",
    ),
    # forged role and turn markers from chat templates
    Cue(
        "goal_hijacking",
        0.8,
        ("<|", "[inst", "[/inst", "[sys", "[/sys", "<<sys", "<</sys", "system", "developer"),
        r"<\|(?:im_start|im_end|system|endoftext|assistant|user)\|>|\[/?(?:INST|SYS)\]|<</?SYS>>"
        r"|(?im:^[ #*\[{(]*(?:system|developer)(?: message| prompt| note| announcement)?[\])}]? ?:)",
    ),
    # --- prompt leaking -------------------------------------------------------------------
    Cue(
        "prompt_leaking",
        0.7,
        ("prompt", "提示词", "系统提示", "初始提示", "指令"),
        r"(?i:(?<=[\u4e00-\u9fff])prompt|prompt(?=[\u4e00-\u9fff])"
        r"|\b(?:system|initial|original|hidden|secret|your|my) prompts?\b)"
        r"|提示词|系统提示|初始提示|系统指令|初始指令|预设指令|隐藏指令|内部指令",
    ),
    Cue(
        "prompt_leaking",
        0.9,
        ("设定", "指令", "规则", "配置", "提示"),
        r"(?:输出|告诉我|泄露|泄漏|透露|显示|展示|打印|复述|重复|说出|公开)(?:一下)?(?:你的|你们的)?"
        r"(?:系统|初始|原始|内部|隐藏|预设)?(?:设定|指令|规则|配置|提示)",
    ),
    Cue(
        "prompt_leaking",
        0.9,
        ("prompt", "instruction", "message", "rules", "configuration"),
        r"(?i:\b(?:repeat|print|show|reveal|output|display|tell me|what (?:is|are|were)|leak|dump"
        r"|spell out)\b.{0,20}\b(?:your|the) (?:system|initial|original|hidden|secret|full|first"
        r"|internal|developer) ?(?:prompt|instructions?|message|rules|configuration))",
    ),
    Cue(
        "prompt_leaking",
        0.7,
        ("above", "before this"),
        r"(?i:\b(?:words|text|everything|instructions) (?:above|before this)\b)",
    ),
    # questions probing the model behind the assistant: its training, data, defences
    Cue(
        "prompt_leaking",
        0.6,
        (
            "模型",
            "训练数据",
            "数据集",
            "泄露",
            "泄漏",
            "越权",
            "敏感",
            "对抗",
            "攻击者",
            "盒",
            "自然语言处理",
            "防御",
            "防范",
        ),
        r"(?:你|你们)的模型|模型(?:的|是否|能否|如何|在|会|有没有|训练|参数|输出|设计|安全)|训练数据|数据集"
        r"|泄[露漏]|越权|敏感(?:信息|数据)|对抗(?:性|训练|样本)|攻击者|[白黑]盒(?:攻击|测试)|自然语言处理"
        r"|(?:防御|防范)(?:机制|措施)",
    ),
    # --- role play ------------------------------------------------------------------------
    Cue("role_play", 0.7, ("扮演", "饰演", "假扮", "充当", "cosplay"), r"扮演|饰演|假扮|充当|(?i:cosplay)"),
    Cue(
        "role_play",
        0.6,
        ("你",),
        r"(?:假设|假如|如果|想象|设想|现在|从现在起|从现在开始)?你(?:现在)?(?:就|将|要)?(?:是|不是|成为|变成|作为)"
        r"(?:一[个名位只家]|个|位|名)",
    ),
    Cue("role_play", 0.5, ("你",), r"(?:假设|假如|想象|设想)你是|你现在是|现在你是|你将(?:会)?(?:是|成为)"),
    Cue("role_play", 0.7, ("作为",), r"作为一?[个名位]?[^，。,.；;]{1,24}[，,]\s*你"),
    Cue(
        "role_play",
        0.4,
        ("作为", "身份", "口吻", "角度", "语气", "角色"),
        r"作为一[个名位]|以[^，。,.]{1,12}的(?:身份|口吻|角度|语气)|你的角色|你的身份是",
    ),
    Cue(
        "role_play",
        0.8,
        ("限制", "约束", "道德", "审查", "规则", "底线", "开发者模式", "越狱"),
        r"(?:没有|不受|不存在|摆脱|无视|打破)(?:任何)?(?:的)?(?:限制|约束|道德|审查|规则|底线)"
        r"|无限制|不受限制|开发者模式|越狱",
    ),
    Cue("role_play", 0.4, ("you are", "you're"), r"(?i:\b(?:you are|you're) (?:now|going to be|no longer)\b)"),
    Cue(
        "role_play",
        0.35,
        ("from now", "from this", "from here"),
        r"(?i:\bfrom (?:now|this moment|this point|here) (?:on|forward|onwards?)\b)",
    ),
    Cue("role_play", 0.6, ("from now on",), r"(?i:\bfrom now on,? (?:you are|you're|you will|you'll)\b)"),
    Cue(
        "role_play",
        0.6,
        ("act", "behave", "respond", "answer", "reply"),
        r"(?i:\b(?:act|acting|behave|respond|answer|reply)(?: only)? (?:as|like) (?:an? |the |my )?"
        r"(?:[a-z]+ ){0,3}(?:ai|bot|chatbot|model|assistant|character|persona|person|dan|gpt)\b"
        r"|\bact as\b)",
    ),
    Cue(
        "role_play",
        0.6,
        ("pretend", "role"),
        r"(?i:\bpretend(?:ing)? (?:to be|you are|you're|that you)\b|\brole ?-?play)",
    ),
    Cue(
        "role_play",
        0.9,
        ("dan", "do anything now", "developer mode", "jailbr", "character"),
        r"\bDAN\b|(?i:\bdo anything now\b|\bdeveloper mode\b|\bjailbr(?:eak|oken)\b"
        r"|\bstay in character\b|\bbreak(?:ing)? character\b)",
    ),
    Cue(
        "role_play",
        0.7,
        ("restriction", "limit", "filter", "censor", "guideline", "rules", "amoral", "unethical", "immoral"),
        r"(?i:\b(?:no|without any|without|free of all|free from|not bound by any|not restricted by)"
        r" (?:ethical |moral )?(?:restrictions|limitations|limits|filters|censorship|guidelines|rules)\b"
        r"|\bunfiltered\b|\buncensored\b|\bamoral\b|\bunethical\b|\bimmoral\b)",
    ),
    Cue(
        "role_play",
        0.5,
        ("hypothetical", "fictional", "simulat"),
        r"(?i:\bhypothetical\b|\bfictional\b|\bsimulat(?:e|ion)\b)",
    ),
    Cue(
        "role_play",
        0.5,
        (
            "let",
            "play a",
            "scene is set",
            "the role",
            "the part",
            "the persona",
            "perspective",
            "ethical",
            "legal",
            "moral",
        ),
        r"(?i:\blet'?s (?:act|pretend|imagine|do a roleplay)\b|\bplay a (?:game|role)\b|\bscene is set\b"
        r"|\b(?:take|play|assume)(?: on)? the (?:role|part|persona) of\b|\bin the role of\b"
        r"|\bfrom the perspective of (?:that|the|a|this) character\b"
        r"|\b(?:ethical|legal|moral) (?:concerns|considerations|boundaries|principles|standards)\b)",
    ),
    Cue(
        "role_play",
        0.5,
        ("respond", "answer", "reply", "write", "speak"),
        r"(?i:\b(?:respond|answer|reply|write|speak)\b[^.\n]{0,40}?\bas) (?:[A-Z][\w-]+|\"[^\"\n]{1,30}\")",
    ),
    Cue(
        "role_play",
        0.3,
        ("imagine you", "you are a"),
        r"(?i:\bimagine you\b|\byou are an? \w+(?: \w+)? (?:ai|bot|chatbot|model|assistant)\b)",
    ),
    # --- jailbreak template furniture -------------------------------------------------------
    Cue(
        "jailbreak_template",
        0.4,
        ("chat gpt", "chatgpt", "open ai", "openai", "gpt", "language model", "ai model"),
        r"(?i:\bchat ?gpt\b|\bopen ?ai\b|\bgpt-?[34]\b|\blanguage models?\b|\bai models?\b)"
        r"|\b[A-Z][A-Za-z]*GPT\b",
    ),
    Cue(
        "jailbreak_template",
        0.5,
        ("content polic", "safety guidelines", "ethical guidelines"),
        r"(?i:\bcontent polic(?:y|ies)\b|\bsafety guidelines\b|\bethical guidelines\b)",
    ),
    Cue(
        "jailbreak_template",
        0.4,
        ("two ", "opposite"),
        r"(?i:\btwo (?:different |separate )?(?:responses|answers|ways|manners|paragraphs|entities)\b"
        r"|\bopposite\b)",
    ),
)

_PATTERNS = tuple(re.compile(cue.pattern, re.DOTALL) for cue in _CUES)


def _trigger_index() -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[str, ...]]]:
    """trigger -> the cues it opens (indices), and first character -> the triggers starting with it:
    a message is tested only for the triggers whose first character it holds (one set
    intersection instead of a substring test per trigger)."""
    cues_of: dict[str, list[int]] = {}
    for index, cue in enumerate(_CUES):
        for trigger in cue.triggers:
            cues_of.setdefault(trigger, []).append(index)
    by_first: dict[str, list[str]] = {}
    for trigger in cues_of:
        by_first.setdefault(trigger[0], []).append(trigger)
    return {t: tuple(i) for t, i in cues_of.items()}, {c: tuple(t) for c, t in by_first.items()}


_CUES_OF, _BY_FIRST = _trigger_index()
_FIRST_CHARS = frozenset(_BY_FIRST)

# Structural cue: a long message that keeps addressing the assistant reads as a set of
# instructions (jailbreak templates run to thousands of characters; customers rarely pass 300).
_LONG = 500
_ADDRESS = re.compile(r"(?i:\byou\b|\byour\b)|你")
_LONG_WEIGHT = 0.3


@dataclass
class InjectionVerdict:
    """How much a message looks like prompt injection, and why."""

    score: float  # 0..1
    flagged: bool
    categories: list[str] = field(default_factory=list)
    cues: list[str] = field(default_factory=list)  # the matched text of each cue, for explain


def scan(text: str, threshold: float = DEFAULT_THRESHOLD) -> InjectionVerdict:
    """Score `text`; `flagged` when the score reaches `threshold`."""
    if not isinstance(text, str) or not text:
        return InjectionVerdict(0.0, False)
    lower = text.lower()
    opened = {
        index
        for first in _FIRST_CHARS.intersection(lower)
        for trigger in _BY_FIRST[first]
        if trigger in lower
        for index in _CUES_OF[trigger]
    }
    remaining = 1.0
    categories: list[str] = []
    cues: list[str] = []
    for index in sorted(opened):  # in table order, as the explain record lists them
        m = _PATTERNS[index].search(text)
        if m is None:
            continue
        cue = _CUES[index]
        remaining *= 1.0 - cue.weight
        cues.append(m.group())
        if cue.category not in categories:
            categories.append(cue.category)
    if len(text) >= _LONG and len(_ADDRESS.findall(text, 0, 4 * _LONG)) >= 5:
        remaining *= 1.0 - _LONG_WEIGHT
        cues.append(f"<{len(text)} characters of instructions>")
    score = round(1.0 - remaining, 4)
    return InjectionVerdict(score, score >= threshold, categories, cues)


def injection_score(text: str) -> float:
    return scan(text).score


def is_injection(text: str, threshold: float = DEFAULT_THRESHOLD) -> bool:
    return scan(text, threshold).flagged


def turn_flags(text: str, threshold: float = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """The entries the input guard puts in `turn.flags`; rules test `flags.injection_suspected`."""
    verdict = scan(text, threshold)
    return {
        "injection_suspected": verdict.flagged,
        "injection_score": verdict.score,
        "injection_categories": verdict.categories,
    }
