"""Tests of Chinese text normalisation: written policy text → the words the voice says."""

from __future__ import annotations

import pytest

from audio import TextError, normalize_text

TABLE = [
    # dates and years
    ("请于12月31日前缴纳物业费", "请于十二月三十一日前缴纳物业费"),
    ("请于2025年12月31日前缴纳物业费", "请于二零二五年十二月三十一日前缴纳物业费"),
    ("缴费截止2025-12-31", "缴费截止二零二五年十二月三十一日"),
    ("2026/1/5起执行", "二零二六年一月五日起执行"),
    # times and time ranges
    ("每天17:30至次日8:00禁止充电", "每天十七点三十分至次日八点禁止充电"),
    ("开放时间8:00-17:00", "开放时间八点至十七点"),
    ("2:30集合", "两点三十分集合"),
    ("9:05准时开始", "九点零五分准时开始"),
    # money, percentages, temperature
    ("电费2.9元/度", "电费二点九元每度"),
    ("电费2.90元/kWh", "电费二点九元每千瓦时"),
    ("罚款¥200", "罚款二百元"),
    ("共1,000元", "共一千元"),
    ("覆盖率达到98.5%", "覆盖率达到百分之九十八点五"),
    ("今日气温-5℃，请注意保暖", "今日气温零下五摄氏度，请注意保暖"),
    # phone and hotline numbers, digit by digit with 幺
    ("物业值班手机13812345678", "物业值班手机幺三八，幺二三四，五六七八"),
    ("联系电话：0571-88886666", "联系电话：零五七幺，八八八八六六六六"),
    ("有疑问请拨打12345热线", "有疑问请拨打幺二三四五热线"),
    ("发现火情请拨打119", "发现火情请拨打幺幺九"),
    # units and abbreviations
    ("充电桩功率7kW，限流16A", "充电桩功率七千瓦，限流十六安"),
    ("每度电约0.5kWh", "每度电约零点五千瓦时"),
    ("按kWh计价", "按千瓦时计价"),
    ("限速5km/h", "限速五公里每小时"),
    # counting words, ranges, ordinals, room numbers
    ("每户限2辆", "每户限两辆"),
    ("第2次提醒", "第二次提醒"),
    ("预计3-5天完成", "预计三至五天完成"),
    ("请到1502室领取", "请到一五零二室领取"),
    ("3号楼2单元", "三号楼二单元"),
    # full-width characters and punctuation the voice pauses on
    ("１２月３１日", "十二月三十一日"),
    ("请注意,电动车严禁进楼!", "请注意，电动车严禁进楼！"),
    ("第一条\n第二条", "第一条。第二条"),
    ("【通知】今晚停水", "通知：今晚停水"),
]


@pytest.mark.parametrize(("written", "spoken"), TABLE)
def test_normalize_table(written: str, spoken: str) -> None:
    """Test that policy text is rewritten into the spoken form a listener expects."""
    assert normalize_text(written) == spoken


def test_normalize_real_policy_sentence() -> None:
    """Test that a full notice leaves no Arabic digit or ASCII unit for the voice to guess at."""
    notice = (
        "【停电通知】因线路检修，2025年12月20日8:30-17:00，3号楼、5号楼停电。"
        "期间充电桩暂停使用（功率7kW）。如有疑问请致电物业：0571-88886666，谢谢！"
    )
    spoken = normalize_text(notice)
    assert spoken == (
        "停电通知：因线路检修，二零二五年十二月二十日八点三十分至十七点，三号楼、五号楼停电。"
        "期间充电桩暂停使用（功率七千瓦）。如有疑问请致电物业：零五七幺，八八八八六六六六，谢谢！"
    )


@pytest.mark.parametrize("text", ["", "   ", "\u200b", "。，！"])
def test_nothing_to_speak_is_an_error(text: str) -> None:
    """Test that text with nothing to say is refused with a clear error, not a silent clip."""
    with pytest.raises(TextError, match="nothing to speak"):
        normalize_text(text)


def test_too_long_text_is_refused() -> None:
    """Test that a text over the length limit is refused with its length in the message."""
    with pytest.raises(TextError, match="5000 characters"):
        normalize_text("请" * 5000)


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("二〇二七年度", "二零二七年度"),
        ("二○二六年", "二零二六年"),  # the circle staff type for 〇
        ("2027年", "二零二七年"),
    ],
)
def test_written_zero_becomes_ling(written: str, spoken: str) -> None:
    """Test that 〇 becomes 零 (the neural front end drops 〇: 二〇二七 was read 二七)."""
    assert normalize_text(written) == spoken
