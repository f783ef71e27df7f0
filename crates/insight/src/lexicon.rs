//! The word lists behind [`Keywords`](crate::Keywords): the desk's domain words, the stop words,
//! the single characters that do carry meaning, and what counts as a number.
//!
//! They are plain lists so a reviewer can read them and a test can check them against each
//! other (no domain word is a stop word).

/// Words of electric-car rental complaints that the general dictionary does not know, or knows
/// but would cut apart in the desk's sentences. They are added to the segmenter with a frequency
/// high enough to keep them whole, and they are kept by [`Keywords::terms`](crate::Keywords::terms)
/// even where the generic rules (single character, number) would drop them.
///
/// A longer dictionary word that begins or ends with one of them is counted as that word and the
/// rest (客服热线 → 客服, 热线), so the few longer words that must stay whole are listed here too
/// (保险杠, 充电器 …).
///
/// Not included on purpose: compounds that would hide a word the desk counts, such as 退押金
/// (hides 押金), 违章记录 (hides 违章) or 续航里程 (hides 续航).
pub const DOMAIN_WORDS: &[&str] = &[
    // the damage assessment after a return (not in the general dictionary: 定 / 损 otherwise)
    "定损",
    "验车",
    "划痕",
    "剐蹭",
    "车损",
    "维修费",
    "理赔",
    "保险",
    // whole words of their own, not 保险 + 杠 (a bumper) or 事故 + 车
    "保险杠",
    "保险费",
    "事故车",
    "事故",
    // range and charging
    "续航",
    "虚标",
    "满电",
    "电量",
    "充电",
    "充电桩",
    "充电站",
    "充电器",
    "充电枪",
    "充电费",
    "补电",
    "趴窝",
    "故障",
    "异响",
    // deposits and money
    "押金",
    "免押",
    "预授权",
    "退款",
    "扣款",
    "扣费",
    "租金",
    "清洁费",
    "手续费",
    "服务费",
    "超时费",
    "违约金",
    "停车费",
    "发票",
    // traffic violations
    "违章",
    "扣分",
    "罚款",
    // fulfilment: delivery, pickup, return
    "送车上门",
    "上门取车",
    "送车",
    "取车",
    "还车",
    "换车",
    "车况",
    "门店",
    "订单",
    // the car's state
    "异味",
    "烟味",
    "污渍",
    // unreachable: said of the desk, the driver, the station
    "联系不上",
    "打不通",
    // the desk and the regulator (12315 is the consumer-complaint hotline: a channel, not a number)
    "客服",
    "投诉",
    "12315",
];

/// Single characters kept as terms: each says something about the car or the service on its
/// own (车 "the car", 脏 "dirty", 慢 "slow" …). Every other single character is a particle, a
/// measure word or a fragment of a word the segmenter could not place, and is dropped.
pub const MEANINGFUL_SINGLE_CHARACTERS: &[char] = &[
    '车', '脏', '臭', '贵', '慢', '坏', '漏', '吵', '冷', '热', '锁', '灯', '胎', '窗',
];

/// Adverbs of degree that jieba glues to the adjective after them (很脏, 太慢, 太过分). They are
/// taken off when what remains is a word of its own, so 很脏 and 太脏 both count as 脏.
pub const DEGREE_PREFIXES: &[char] = &['很', '太'];

/// Words that say nothing about what went wrong: Chinese particles, pronouns, conjunctions,
/// adverbs of degree and time, politeness; the English ones customers mix in. Matched after the
/// term is lower-cased.
pub const STOP_WORDS: &[&str] = &[
    // Chinese: particles and structure words
    "的",
    "地",
    "得",
    "了",
    "着",
    "过",
    "之",
    "所",
    "吗",
    "呢",
    "啊",
    "吧",
    "呀",
    "哦",
    "嗯",
    "哈",
    "啦",
    "嘛",
    "哎",
    "唉",
    "喂",
    "么",
    "罢了",
    "而已",
    "的话",
    "的时候",
    // pronouns
    "我",
    "你",
    "他",
    "她",
    "它",
    "您",
    "我们",
    "你们",
    "他们",
    "她们",
    "它们",
    "咱们",
    "自己",
    "人家",
    "大家",
    "别人",
    "这",
    "那",
    "哪",
    "这个",
    "那个",
    "哪个",
    "这些",
    "那些",
    "这样",
    "那样",
    "这么",
    "那么",
    "这里",
    "那里",
    "哪里",
    "这边",
    "那边",
    "这次",
    "那次",
    "什么",
    "怎么",
    "怎么样",
    "怎样",
    "如何",
    "为什么",
    "多少",
    "谁",
    "其他",
    "其它",
    // verbs of being and modality
    "是",
    "在",
    "有",
    "要",
    "会",
    "能",
    "可以",
    "可能",
    "应该",
    "需要",
    "想",
    "说",
    "问",
    "让",
    "叫",
    "是否",
    "是不是",
    "能不能",
    "不是",
    "也是",
    "都是",
    "就是",
    "还是",
    "只是",
    "只能",
    // prepositions and conjunctions
    "和",
    "与",
    "及",
    "以及",
    "跟",
    "同",
    "被",
    "把",
    "给",
    "对",
    "对于",
    "从",
    "向",
    "往",
    "到",
    "于",
    "为",
    "为了",
    "因为",
    "所以",
    "但",
    "但是",
    "可是",
    "而",
    "而且",
    "并且",
    "或",
    "或者",
    "然后",
    "如果",
    "虽然",
    "即使",
    "不过",
    "不但",
    "还有",
    "而是",
    "结果",
    // negations glued to a verb that say nothing on their own (不能 …); 没人接 or 打不通 do
    "不能",
    "不到",
    "不上",
    "不了",
    "不会",
    "不要",
    "不用",
    "不想",
    "我要",
    "任何",
    "只有",
    "全是",
    "差点",
    // adverbs
    "就",
    "也",
    "都",
    "很",
    "还",
    "又",
    "再",
    "才",
    "刚",
    "刚刚",
    "已",
    "已经",
    "一直",
    "正在",
    "曾经",
    "不",
    "没",
    "没有",
    "非常",
    "特别",
    "太",
    "真",
    "真的",
    "更",
    "最",
    "比较",
    "十分",
    "完全",
    "根本",
    "其实",
    "竟然",
    "居然",
    "到底",
    "一定",
    "肯定",
    "总是",
    "经常",
    "每次",
    "从来",
    "有点",
    "有些",
    "一些",
    "一点",
    "一下",
    "一样",
    "好",
    "很多",
    // time words with no content
    "现在",
    "今天",
    "昨天",
    "明天",
    "那天",
    "当天",
    "之后",
    "之前",
    "以后",
    "以前",
    "时候",
    "时",
    "后",
    "前",
    // position words used as particles
    "里",
    "上",
    "下",
    "中",
    "内",
    "外",
    "等",
    "等等",
    // politeness
    "请",
    "麻烦",
    "谢谢",
    "您好",
    "你好",
    // written as a word, read as a number's prefix (百分之四十 = 40 %)
    "百分之",
    // English
    "a",
    "an",
    "the",
    "and",
    "or",
    "but",
    "if",
    "of",
    "to",
    "in",
    "on",
    "at",
    "by",
    "for",
    "with",
    "from",
    "as",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "it",
    "its",
    "this",
    "that",
    "these",
    "those",
    "i",
    "me",
    "my",
    "we",
    "our",
    "you",
    "your",
    "he",
    "him",
    "his",
    "she",
    "her",
    "they",
    "them",
    "their",
    "not",
    "no",
    "yes",
    "do",
    "does",
    "did",
    "have",
    "has",
    "had",
    "can",
    "could",
    "will",
    "would",
    "should",
    "may",
    "might",
    "must",
    "so",
    "very",
    "too",
    "just",
    "also",
    "please",
    "hi",
    "hello",
    "thanks",
    "thank",
    "there",
    "here",
    "what",
    "which",
    "who",
    "when",
    "where",
    "why",
    "how",
    "am",
    "than",
    "then",
    "about",
    "into",
    "up",
    "out",
    "again",
    "any",
    "all",
    "some",
    "only",
    "ok",
];

/// Measure words and units that follow a number (三天, 两个小时, 500km): a number followed by
/// one of them is still only a number.
const MEASURES: &[&str] = &[
    "个",
    "次",
    "天",
    "日",
    "号",
    "周",
    "月",
    "个月",
    "年",
    "元",
    "块",
    "毛",
    "角",
    "分",
    "分钟",
    "秒",
    "小时",
    "个小时",
    "点",
    "公里",
    "里",
    "米",
    "度",
    "岁",
    "位",
    "名",
    "辆",
    "台",
    "张",
    "件",
    "条",
    "家",
    "遍",
    "趟",
    "倍",
    "成",
    "km",
    "kw",
    "kwh",
    "h",
    "min",
    "w",
];

/// Whether `c` may be part of a number: digits of any script, Chinese numerals, and the
/// decimal point and percent sign inside a figure.
fn is_numeral(c: char) -> bool {
    // `char::is_numeric` covers digits of every script and 〇, but not 一 … 亿 (letters to Unicode).
    c.is_numeric()
        || matches!(
            c,
            '零' | '一'
                | '二'
                | '三'
                | '四'
                | '五'
                | '六'
                | '七'
                | '八'
                | '九'
                | '十'
                | '百'
                | '千'
                | '万'
                | '亿'
                | '两'
                | '半'
                | '几'
                | '.'
                | '%'
        )
}

/// Whether a (lower-cased) term is only a quantity: a figure such as 300, 四十, 十几, 第二, or a
/// figure and its unit such as 三天, 两个, 四十多天, 500km. 一直 or 一分钱 are not: what follows
/// the figure is no unit.
pub(crate) fn is_quantity(term: &str) -> bool {
    // 第二 (ordinal), 百分之四十 (40 %): prefixes of a figure.
    let rest = term
        .strip_prefix('第')
        .or_else(|| term.strip_prefix("百分之"))
        .unwrap_or(term);
    let mut figure_end = 0;
    for (at, c) in rest.char_indices() {
        // 多 and 余 ("more than") belong to a figure only after it has begun: 四十多, 十余.
        let part_of_figure = is_numeral(c) || (at > 0 && matches!(c, '多' | '余'));
        if !part_of_figure {
            break;
        }
        figure_end = at + c.len_utf8();
    }
    if figure_end == 0 {
        return false;
    }
    let unit = &rest[figure_end..];
    // 一个多 (小时), 两天多: "more than" may follow the unit too.
    let unit = unit.strip_suffix(['多', '余']).unwrap_or(unit);
    unit.is_empty() || MEASURES.contains(&unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_domain_word_is_a_stop_word() {
        for word in DOMAIN_WORDS {
            assert!(!STOP_WORDS.contains(word), "{word} is both a domain and a stop word");
        }
    }

    #[test]
    fn figures_and_figures_with_units_are_quantities() {
        let terms = [
            "300",
            "2000",
            "3.5",
            "40%",
            "四十",
            "十几次",
            "第二",
            "三天",
            "两个",
            "四十多天",
            "500km",
            "一个多",
            "百分之四十",
        ];
        for term in terms {
            assert!(is_quantity(term), "{term} should be a quantity");
        }
    }

    #[test]
    fn words_that_begin_with_a_numeral_are_not_quantities() {
        for term in ["一直", "一分钱", "多少", "工作日", "押金", "app", "第", "多天"] {
            assert!(!is_quantity(term), "{term} should not be a quantity");
        }
    }
}
