"""The bilingual (zh/en) emotion lexicon: plain data, read by `emotion_lexicon`.

Weights are strengths (about 0.3 mild .. 2 strong); the sign comes from the
table. Phrases are matched lower-cased, longest first, so a fixed expression
(不错, 不好意思, no problem, 你们真行) wins over the words inside it.
"""

from __future__ import annotations

NEGATIVE: dict[str, float] = {
    # zh: quality, delay, service
    "差": 1.0, "很差": 1.2, "太差": 1.5, "差劲": 1.5, "烂": 1.2, "糟糕": 1.2, "糟透": 1.8,
    "失望": 1.2, "不满": 1.2, "郁闷": 1.0, "烦": 0.8, "烦死": 1.5, "好烦": 1.2, "讨厌": 1.0,
    "难受": 1.0, "难用": 1.0, "难吃": 1.0, "后悔": 1.2, "心累": 1.2, "崩溃": 1.5, "绝望": 1.5,
    "坑": 1.0, "坑人": 1.5, "坑爹": 1.5, "好坑": 1.2, "慢": 0.6, "太慢": 1.2, "好慢": 1.2,
    "拖": 0.8, "拖延": 1.0, "耽误": 1.0, "白等": 1.2, "浪费时间": 1.2, "敷衍": 1.5,
    "推脱": 1.2, "踢皮球": 1.5, "没人理": 1.2, "没人管": 1.2, "没人回": 1.2, "不理人": 1.2,
    "石沉大海": 1.2, "态度差": 1.5, "态度恶劣": 1.8, "质量差": 1.5, "质量问题": 1.0,
    "出问题": 0.8, "出了问题": 0.8, "故障": 0.8, "坏了": 1.0, "破损": 1.0, "发错": 1.0,
    "漏发": 1.0, "少发": 1.0, "假货": 1.5, "乱收费": 1.5, "扣钱": 0.8, "不退": 1.0,
    "离谱": 1.5, "过分": 1.5, "太过分": 1.8, "欺负人": 1.5, "忽悠": 1.5, "不像话": 1.5,
    "受不了": 1.5, "忍不了": 1.5, "不行": 0.8, "不靠谱": 1.2, "不怎么样": 0.8, "不咋地": 0.8,
    "不耐烦": 1.0, "没用": 1.0, "用不了": 1.0, "无法使用": 1.0, "打不开": 0.8, "登不上": 0.8,
    "收不到": 0.8, "联系不上": 1.0, "打不通": 1.0, "一直没": 0.6, "还没": 0.3, "没收到": 0.6, "未收到": 0.6,
    "到现在还没": 1.0, "怎么还没": 0.3, "怎么回事": 0.6, "搞什么": 1.2, "到底": 0.4,
    "算了": 0.5, "够了": 1.0, "真是够了": 1.5, "晕": 0.6, "哭了": 1.0, "唉": 0.5, "哎": 0.3,
    # zh: sarcasm and exasperation common in customer service
    "你们真行": 2.0, "真行": 1.5, "可真行": 1.8, "呵呵": 1.2, "服了": 1.5, "真服了": 1.8,
    "醉了": 1.2, "无语": 1.2, "厉害了": 1.2, "好一个": 1.0, "谢谢你们全家": 2.0,
    "我谢谢你": 1.5, "真是谢谢": 1.2, "好极了呢": 1.2,
    # en
    "bad": 1.0, "terrible": 1.5, "awful": 1.5, "horrible": 1.5, "poor": 0.8, "disappointed": 1.2,
    "disappointing": 1.2, "frustrated": 1.2, "frustrating": 1.2, "annoyed": 1.0, "annoying": 1.0,
    "upset": 1.0, "unhappy": 1.2, "mad": 1.0, "hate": 1.2, "useless": 1.2, "broken": 1.0,
    "damaged": 1.0, "defective": 1.0, "wrong": 0.8, "late": 0.6, "delayed": 0.8, "slow": 0.6,
    "never arrived": 1.2, "never received": 1.2, "still waiting": 1.0, "still not": 0.6,
    "not working": 1.0, "doesn't work": 1.0, "does not work": 1.0, "don't work": 1.0,
    "stopped working": 1.0, "waste": 1.0, "rude": 1.5, "joke": 1.0, "sucks": 1.5,
    "problem": 0.4, "fed up": 1.5, "sick of": 1.2, "had enough": 1.2, "meh": 0.5,
    # en: sarcasm
    "just great": 1.5, "just perfect": 1.5, "yeah right": 1.2, "thanks for nothing": 2.0,
    "oh great": 1.2,
    # emoji and WeChat stickers
    "😠": 1.2, "😤": 1.0, "😢": 1.0, "😭": 1.2, "😞": 1.0, "🙄": 1.0, "👎": 1.2, "💔": 1.0,
    "[抓狂]": 1.2, "[大哭]": 1.0, "[流泪]": 1.0, "[白眼]": 1.0, "[撇嘴]": 0.8, "[衰]": 0.8,
}  # fmt: skip

POSITIVE: dict[str, float] = {
    "好": 0.6, "很好": 1.0, "挺好": 1.0, "太好了": 1.5, "好极了": 1.5, "还好": 0.3, "好的": 0.3,
    "满意": 1.0, "谢谢": 0.6, "感谢": 0.8, "多谢": 0.6, "辛苦了": 0.8, "给力": 1.2, "棒": 1.0,
    "赞": 1.0, "好评": 1.2, "喜欢": 1.0, "开心": 1.0, "高兴": 1.0, "完美": 1.2, "专业": 0.8,
    "耐心": 0.8, "及时": 0.6, "很快": 0.6, "速度快": 0.8, "不错": 1.0, "解决了": 1.0,
    "没问题": 0.5, "没有问题": 0.5, "靠谱": 1.0, "贴心": 1.0, "周到": 1.0, "方便": 0.6,
    "惊喜": 1.0, "好用": 1.0, "了不起": 1.0, "放心": 0.6,
    "good": 1.0, "great": 1.2, "excellent": 1.5, "amazing": 1.5, "awesome": 1.5, "perfect": 1.2,
    "thanks": 0.6, "thank you": 0.6, "thx": 0.5, "appreciate": 0.8, "helpful": 1.0,
    "happy": 1.0, "satisfied": 1.0, "love": 1.2, "nice": 0.8, "wonderful": 1.5,
    "fantastic": 1.5, "resolved": 1.0, "works now": 1.0, "fixed": 0.8, "quick": 0.6,
    "fast": 0.6, "no problem": 0.5, "no worries": 0.5, "well done": 1.0, "glad": 1.0,
    "pleased": 1.0, "cool": 0.5,
    "😊": 1.0, "😀": 1.0, "😄": 1.0, "🙂": 0.5, "👍": 1.0, "❤": 1.0, "🙏": 0.5,
    "[强]": 1.0, "[玫瑰]": 1.0, "[愉快]": 1.0, "[抱拳]": 0.5,
}  # fmt: skip

# threats and insults: each also pushes the score down by its weight
ANGER: dict[str, float] = {
    "投诉": 1.5, "举报": 1.5, "曝光": 1.8, "12315": 1.8, "消协": 1.8, "工商局": 1.5,
    "律师": 1.5, "起诉": 1.8, "告你们": 1.8, "法院": 1.5, "媒体": 1.2, "骗子": 2.0,
    "骗人": 1.8, "诈骗": 2.0, "欺诈": 2.0, "垃圾": 2.0, "退钱": 1.5, "黑心": 1.8,
    "无良": 1.8, "奸商": 2.0, "恶心": 1.5, "生气": 1.2, "气死": 1.8, "愤怒": 1.8,
    "忍无可忍": 2.0, "妈的": 2.0, "他妈": 2.0, "tmd": 2.0, "滚": 1.5, "不要脸": 2.0, "差评": 1.2,
    "lawyer": 1.5, "sue you": 1.8, "suing": 1.5, "legal action": 1.5, "scam": 2.0,
    "scammers": 2.0, "fraud": 2.0, "ridiculous": 1.5,
    "worst": 1.8, "unacceptable": 1.5, "outrageous": 1.8, "furious": 1.8, "angry": 1.2,
    "pissed": 1.5, "bullshit": 2.0, "wtf": 1.5, "rip-off": 1.8, "ripoff": 1.8, "liar": 1.8,
    "liars": 1.8, "pathetic": 1.5, "disgusting": 1.8, "complaint": 1.0, "chargeback": 1.5,
    "report you": 1.5, "bbb": 1.5, "garbage": 1.8, "trash": 1.5,
    "😡": 2.0, "🤬": 2.0, "💢": 1.5, "[发怒]": 1.5, "[怒]": 1.5,
}  # fmt: skip

URGENCY: tuple[str, ...] = (
    "急", "着急", "急死", "急用", "加急", "马上", "赶紧", "赶快", "立刻", "立即", "尽快",
    "快点", "快一点", "火速", "等不了", "等不及", "今天必须", "十万火急",
    "urgent", "urgently", "asap", "immediately", "right now", "right away", "hurry",
    "emergency", "as soon as possible",
)  # fmt: skip

# urgency words that are not urgent here, and polite formulas that contain a lexicon word
NEUTRAL: tuple[str, ...] = (
    "不急", "不着急", "不用急", "别急", "你好", "您好", "好像", "好久", "好几", "好多", "好不好",
    "最好", "好吧", "好了吗", "不好意思", "麻烦", "没事", "没关系", "不客气", "不用谢", "只好",
    "正好", "刚好", "慢慢来", "慢走", "垃圾袋", "垃圾桶", "垃圾分类", "滚动", "滚筒", "多媒体",
    "no rush", "not urgent", "good morning", "good afternoon", "good evening",
)  # fmt: skip

NEGATORS: tuple[str, ...] = (
    "不", "没", "没有", "别", "未", "无", "并不", "并没有", "毫不", "从不", "从没", "绝不", "不是",
    "not", "no", "never", "don't", "dont", "doesn't", "doesnt", "didn't", "didnt", "isn't",
    "isnt", "aren't", "wasn't", "weren't", "won't", "can't", "cant", "cannot", "couldn't",
    "shouldn't", "wouldn't", "hardly", "barely", "without",
)  # fmt: skip

# multipliers on the next word: above 1 intensify, below 1 soften
INTENSIFIERS: dict[str, float] = {
    "非常": 1.5, "太": 1.5, "真": 1.3, "真的": 1.3, "真是": 1.3, "很": 1.3, "特别": 1.5,
    "超": 1.5, "超级": 1.6, "极其": 1.8, "十分": 1.5, "相当": 1.3, "实在": 1.4, "简直": 1.5,
    "巨": 1.5, "贼": 1.5, "最": 1.5, "有点": 0.7, "有些": 0.7, "稍微": 0.6, "略": 0.7,
    "very": 1.5, "so": 1.4, "really": 1.3, "too": 1.4, "extremely": 1.8, "super": 1.5,
    "totally": 1.5, "absolutely": 1.6, "completely": 1.5, "incredibly": 1.7, "utterly": 1.8,
    "such": 1.3, "most": 1.3, "a bit": 0.7, "a little": 0.7, "slightly": 0.6, "kind of": 0.7,
    "kinda": 0.7, "somewhat": 0.7,
}  # fmt: skip
