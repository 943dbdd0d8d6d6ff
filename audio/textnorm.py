"""Chinese text normalisation: written policy text into the form a Mandarin voice should speak."""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import cache
from typing import Any

from audio.const import MAX_TEXT_CHARS
from audio.errors import TextError

logger = logging.getLogger(__name__)

__all__ = ["normalize_text"]

_DIGIT_WORDS = "零一二三四五六七八九"
# Phone and hotline numbers are read digit by digit with 幺 for 1, as operators and 12345 do.
_PHONE_DIGIT_WORDS = "零幺二三四五六七八九"

# A lone 2 before these measure words is said 两 (两个, 两天, 两元), not 二.
_LIANG_FOLLOWERS = (
    "个", "次", "天", "位", "名", "辆", "台", "户", "周", "小时", "分钟", "年", "元", "块",
    "万", "千", "百", "亿", "项", "条", "件", "份", "张", "把", "只", "倍", "岁", "人",
    "公里", "千瓦", "瓦", "伏", "安", "公斤", "米", "点",
)

# Units written after a number, longest first so "kWh" wins over "kW" and "km/h" over "km".
_UNITS: dict[str, str] = {
    "kWh": "千瓦时", "kwh": "千瓦时", "KWH": "千瓦时", "KWh": "千瓦时",
    "km/h": "公里每小时", "kW": "千瓦", "KW": "千瓦", "kw": "千瓦", "mAh": "毫安时",
    "mA": "毫安", "km": "公里", "cm": "厘米", "mm": "毫米", "m2": "平方米", "m3": "立方米",
    "kg": "公斤", "ml": "毫升", "mL": "毫升", "min": "分钟", "W": "瓦", "V": "伏", "A": "安",
    "m": "米", "g": "克", "L": "升", "h": "小时", "t": "吨",
}
_UNIT_RE = re.compile(
    r"(\d(?:\.\d+)?)\s*("
    + "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
    + r")(?![A-Za-z])",
)
# Abbreviations that mean the same on their own, not only after a number.
_STANDALONE = {"kWh": "千瓦时", "KWH": "千瓦时", "kwh": "千瓦时", "kW": "千瓦", "km/h": "公里每小时"}
_STANDALONE_RE = re.compile(
    r"(?<![A-Za-z])(" + "|".join(re.escape(a) for a in _STANDALONE) + r")(?![A-Za-z])"
)

# 〇 (and the circle ○ typed for it) is the zero of written years; misaki drops it silently
# (二〇二七 was read 二七), so it becomes 零 before anything else reads the text.
_ZERO_SIGNS = str.maketrans({"〇": "零", "○": "零"})
_INVISIBLE_RE = re.compile(r"[\u200b-\u200f\u2060\ufeff\u00ad]")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}(?:\D|$))")
_PHONE_KEYWORDS = "电话|热线|拨打|手机|致电|号码|呼叫|报警|急救|火警|联系"
_KEYWORD_NUMBER_RE = re.compile(
    rf"({_PHONE_KEYWORDS})([:是为]?\s*)(\d{{3,}}(?:-\d{{3,}})*)"
)
_NUMBER_KEYWORD_RE = re.compile(r"(?<![\d.])(\d{3,})(?=服务热线|热线|报警|急救|火警)")
_LANDLINE_RE = re.compile(r"(?<![\d.])(0\d{2,3})-(\d{7,8})(?![\d.])")
_MOBILE_RE = re.compile(r"(?<![\d.])(1[3-9]\d)(\d{4})(\d{4})(?![\d.])")
_FULL_DATE_RE = re.compile(
    r"(?<!\d)(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})(?!\d)\s*[日号]?"
)
_YEAR_RE = re.compile(r"(?<!\d)(\d{4})(?=\s*年)")
_TIME = r"(?<![\d:])(\d{1,2}):(\d{2})(?::(\d{2}))?(?![\d:])"
_TIME_RANGE_RE = re.compile(_TIME + r"(?:\s*[-~—–至到]+\s*" + _TIME + r")?")
_TEMPERATURE_RE = re.compile(r"(-|零下)?\s*(\d+(?:\.\d+)?)\s*°C")
_CURRENCY_RE = re.compile(r"¥\s*(\d+(?:\.\d+)?)")
_MONEY_TRAILING_ZEROS_RE = re.compile(r"(\d+)(?:\.0+|(\.\d*?)0+)(?=\s*元)")
_PERCENT_RE = re.compile(r"(-)?(\d+(?:\.\d+)?)\s*([%‰])")
_PER_RE = re.compile(r"/(?=\s*(?:度|千瓦时|小时|次|天|日|月|年|人|辆|户|台|位|件|公斤|斤|米|分钟))")
_ROOM_RE = re.compile(r"(?<![\d.])(\d{3,5})(?=\s*(?:室|房间|房))")
_RANGE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*[-~—–]+\s*(?=\d)")
_NEGATIVE_RE = re.compile(r"(?<![\d\w])-(?=\d)")
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
_LEADING_ZERO_RE = re.compile(r"0\d")
_MAX_CARDINAL_DIGITS = 16  # past this cn2an gives up; such strings are codes, read digit by digit
_SPACE_NEAR_CJK_RE = re.compile(r"\s*([\u3000-\u303f\u4e00-\u9fff\uff00-\uffef])\s*")
_MULTI_SPACE_RE = re.compile(r"\s+")
_SPEAKABLE_RE = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")

_PUNCTUATION = str.maketrans(
    {
        ",": "，", "!": "！", "?": "？", ";": "；", ":": "：", "(": "（", ")": "）",
        "~": "至", "&": "和", "+": "加", "=": "等于", "×": "乘", "【": "", "】": "：",
        "*": "", "#": "", '"': "", "'": "", "|": "，",
    },
)


def normalize_text(text: str) -> str:
    """Rewrite written Chinese into the words a Mandarin voice should say.

    Numbers become Chinese numerals (cn2an), years and phone numbers are read digit by digit,
    dates, times, money, percentages, temperatures and units are spelled out, and punctuation
    becomes the full-width forms the voice pauses on.

    Args:
        text: the text staff wrote (full-width or half-width characters, mixed freely).

    Returns:
        The spoken form, e.g. ``"12月31日17:30前"`` → ``"十二月三十一日十七点三十分前"``.

    Raises:
        TextError: the text is not a string, is longer than the limit, or has nothing to speak.

    """
    if not isinstance(text, str):
        msg = f"text must be a string (got {type(text).__name__})"
        raise TextError(msg)
    if len(text) > MAX_TEXT_CHARS:
        msg = f"text is {len(text)} characters long; the limit is {MAX_TEXT_CHARS}"
        raise TextError(msg)
    # NFKC folds full-width digits, letters and punctuation to half-width, and ℃/㎡ to °C/m2.
    s = unicodedata.normalize("NFKC", text).translate(_ZERO_SIGNS)
    s = _INVISIBLE_RE.sub("", s)
    s = _CONTROL_RE.sub(" ", s)
    s = _THOUSANDS_RE.sub("", s)
    s = _phones(s)
    s = _FULL_DATE_RE.sub(_full_date, s)
    s = _YEAR_RE.sub(lambda m: _digits(m.group(1)), s)
    s = _TIME_RANGE_RE.sub(_time_range, s)
    s = _TEMPERATURE_RE.sub(_temperature, s)
    s = _CURRENCY_RE.sub(r"\1元", s)
    s = _MONEY_TRAILING_ZEROS_RE.sub(lambda m: m.group(1) + (m.group(2) or ""), s)
    s = _PERCENT_RE.sub(_percent, s)
    s = _UNIT_RE.sub(lambda m: m.group(1) + _UNITS[m.group(2)], s)
    s = _STANDALONE_RE.sub(lambda m: _STANDALONE[m.group(1)], s)
    s = _PER_RE.sub("每", s)
    s = _ROOM_RE.sub(lambda m: _digits(m.group(1)), s)
    s = _RANGE_RE.sub(r"\1至", s)
    s = _NEGATIVE_RE.sub("负", s)
    s = _NUMBER_RE.sub(_number, s)
    s = _punctuation(s)
    if not _SPEAKABLE_RE.search(s):
        msg = f"text has nothing to speak: {text!r}"
        raise TextError(msg)
    return s


def _digits(number: str, words: str = _DIGIT_WORDS) -> str:
    return "".join(words[int(d)] for d in number if d.isdigit())


def _phone_digits(*groups: str) -> str:
    # A pause between groups lets listeners write the number down.
    return "，".join(_digits(g, _PHONE_DIGIT_WORDS) for g in groups if g)


def _phones(s: str) -> str:
    s = _LANDLINE_RE.sub(lambda m: _phone_digits(m.group(1), m.group(2)), s)
    s = _MOBILE_RE.sub(lambda m: _phone_digits(m.group(1), m.group(2), m.group(3)), s)
    s = _KEYWORD_NUMBER_RE.sub(
        lambda m: m.group(1) + m.group(2) + _phone_digits(*m.group(3).split("-")), s
    )
    return _NUMBER_KEYWORD_RE.sub(lambda m: _phone_digits(m.group(1)), s)


def _full_date(m: re.Match[str]) -> str:
    year, month, day = m.group(1), int(m.group(2)), int(m.group(3))
    if not (1 <= month <= 12 and 1 <= day <= 31):  # noqa: PLR2004 - calendar bounds
        return m.group(0)
    return f"{_digits(year)}年{_cardinal(month)}月{_cardinal(day)}日"


def _clock(hour: str, minute: str, second: str | None) -> str | None:
    h, mi, se = int(hour), int(minute), int(second) if second else 0
    if h > 24 or mi > 59 or se > 59:  # noqa: PLR2004 - clock bounds
        return None
    spoken = ("两" if h == 2 else _cardinal(h)) + "点"  # noqa: PLR2004 - 两点, not 二点
    if mi:
        spoken += ("零" if mi < 10 else "") + _cardinal(mi) + "分"  # noqa: PLR2004
    if se:
        spoken += ("零" if se < 10 else "") + _cardinal(se) + "秒"  # noqa: PLR2004
    return spoken


def _time_range(m: re.Match[str]) -> str:
    start = _clock(m.group(1), m.group(2), m.group(3))
    if start is None:
        return m.group(0)
    if m.group(4) is None:
        return start
    end = _clock(m.group(4), m.group(5), m.group(6))
    return m.group(0) if end is None else f"{start}至{end}"


def _temperature(m: re.Match[str]) -> str:
    below = "零下" if m.group(1) else ""
    return f"{below}{_cardinal_text(m.group(2))}摄氏度"


def _percent(m: re.Match[str]) -> str:
    sign = "负" if m.group(1) else ""
    lead = "百分之" if m.group(3) == "%" else "千分之"
    return f"{sign}{lead}{_cardinal_text(m.group(2))}"


@cache
def _cn2an() -> Any:
    # Imported on first use: it costs ~85 ms and 4 MiB, and every gridedge command (the daemon
    # too) imports this module through the audio package, mostly without reading a number.
    import cn2an  # noqa: PLC0415

    return cn2an


def _cardinal(value: int) -> str:
    return str(_cn2an().an2cn(str(value)))


def _cardinal_text(number: str) -> str:
    integer_part = number.split(".", maxsplit=1)[0]
    if _LEADING_ZERO_RE.match(number) or len(integer_part) > _MAX_CARDINAL_DIGITS:
        # "007", long codes: digits, since there is no amount to say.
        head, _, tail = number.partition(".")
        return _digits(head) + ("点" + _digits(tail) if tail else "")
    try:
        return str(_cn2an().an2cn(number))
    except (ValueError, KeyError) as err:
        logger.debug("cn2an could not read %r (%s); reading digit by digit", number, err)
        return _digits(number)


def _number(m: re.Match[str]) -> str:
    number = m.group(0)
    following = m.string[m.end() : m.end() + 2]
    ordinal = m.start() > 0 and m.string[m.start() - 1] == "第"  # 第二次, never 第两次
    if number == "2" and not ordinal and following.startswith(_LIANG_FOLLOWERS):
        return "两"
    return _cardinal_text(number)


def _punctuation(s: str) -> str:
    s = s.replace("\r\n", "\n")
    # A line break without punctuation is still the end of a sentence when read aloud.
    s = re.sub(r"(?<![。！？，；：,.!?;:])\s*\n+\s*", "。", s.strip())
    s = re.sub(r"\.(?!\d)", "。", s)
    s = s.translate(_PUNCTUATION)
    s = _SPACE_NEAR_CJK_RE.sub(r"\1", s)
    s = _MULTI_SPACE_RE.sub(" ", s).strip()
    return re.sub(r"([，。！？；：])[，。；：]+", r"\1", s)
