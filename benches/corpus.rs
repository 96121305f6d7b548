//! A seeded generator of synthetic Vietnamese news articles for benchmarks:
//! the same seed gives the same corpus on every machine.

use rand::{Rng, SeedableRng, distr::weighted::WeightedIndex, prelude::Distribution, rngs::StdRng, seq::IndexedRandom};

const WORDS: &[&str] = &[
    "đồng",
    "chí",
    "Bí",
    "thư",
    "Tỉnh",
    "ủy",
    "Thái",
    "Bình",
    "Hội",
    "nghị",
    "giao",
    "ban",
    "trực",
    "tuyến",
    "toàn",
    "quốc",
    "công",
    "tác",
    "tổ",
    "chức",
    "xây",
    "dựng",
    "Đảng",
    "chính",
    "quyền",
    "nhân",
    "dân",
    "sinh",
    "hoạt",
    "chi",
    "bộ",
    "cán",
    "viên",
    "năng",
    "lực",
    "lãnh",
    "đạo",
    "sức",
    "chiến",
    "đấu",
    "cơ",
    "sở",
    "kinh",
    "tế",
    "xã",
    "hội",
    "phát",
    "triển",
    "địa",
    "phương",
    "nông",
    "nghiệp",
    "thủy",
    "lợi",
    "đường",
    "giao",
    "thông",
    "trường",
    "học",
    "giáo",
    "dục",
    "y",
    "tế",
    "bệnh",
    "viện",
    "văn",
    "hóa",
    "thể",
    "thao",
    "du",
    "lịch",
    "lễ",
    "hội",
    "truyền",
    "thống",
    "quê",
    "hương",
    "biển",
    "đảo",
    "ngư",
    "dân",
    "mùa",
    "vụ",
    "lúa",
    "gạo",
    "thu",
    "hoạch",
    "năng",
    "suất",
    "sản",
    "lượng",
    "doanh",
    "nghiệp",
    "đầu",
    "tư",
    "dự",
    "án",
    "khu",
    "công",
    "nghiệp",
    "việc",
    "làm",
    "lao",
    "động",
    "an",
    "ninh",
    "trật",
    "tự",
    "quốc",
    "phòng",
    "biên",
    "giới",
    "hòa",
    "bình",
    "thống",
    "nhất",
    "độc",
    "lập",
    "tự",
    "do",
    "hạnh",
    "phúc",
    "Trường",
    "Sơn",
    "Hà",
    "Nội",
    "Hải",
    "Phòng",
    "Nam",
    "Định",
    "Hưng",
    "Yên",
    "Quảng",
    "Ninh",
    "tháng",
    "quý",
    "năm",
    "kế",
    "hoạch",
    "nhiệm",
    "vụ",
    "trọng",
    "tâm",
    "giải",
    "pháp",
    "kết",
    "quả",
    "đánh",
    "giá",
    "cao",
    "tinh",
    "giản",
    "biên",
    "chế",
    "sắp",
    "xếp",
    "bộ",
    "máy",
    "kiểm",
    "tra",
    "giám",
    "sát",
    "quyền",
    "lực",
    "thuý",
    "hoà",
    "khoẻ",
    "mạnh",
    "vững",
    "trong",
    "sạch",
    "người",
    "đứng",
    "đầu",
    "trách",
    "nhiệm",
    "báo",
    "chí",
    "phóng",
    "sự",
    "tin",
    "tức",
    "video",
    "hình",
    "ảnh",
    "điện",
    "tử",
    "số",
    "hóa",
    "chuyển",
    "đổi",
];

const AUTHORS: &[&str] = &[
    "Phạm Ngọc",
    "Ngô Đông Hải",
    "Đỗ Xuân Thành",
    "Nguyễn Thị Hoa",
    "Trần Văn Đức",
    "Lê Thị Thuý",
    "Hoàng Minh",
    "Vũ Thị Hoà",
    "Bùi Quang Huy",
    "Đặng Thu Trang",
    "Phan Văn Long",
    "Đinh Thị Lan",
    "Mai Anh Tuấn",
];

const KEYWORDS: &[&str] = &[
    "Đảng",
    "Thái Bình",
    "sinh hoạt chi bộ",
    "kinh tế",
    "nông nghiệp",
    "giáo dục",
    "y tế",
    "văn hóa",
    "du lịch",
    "an ninh",
    "quốc phòng",
    "báo chí",
    "chuyển đổi số",
    "lễ hội",
    "biển đảo",
];

/// 2015-01-01T00:00:00Z.
const FIRST_PUBLISH: i64 = 1_420_070_400;
const PUBLISH_SPAN_SECONDS: i64 = 10 * 365 * 86_400;

pub struct SyntheticArticle {
    pub title: String,
    pub body: String,
    pub author: String,
    pub keywords: Vec<String>,
    pub publish_seconds: i64,
    pub view_count: i64,
}

/// Word frequencies follow Zipf's law (weight 1/rank), as in real text: a
/// few words are everywhere, most are rare.
fn sentence(rng: &mut StdRng, zipf: &WeightedIndex<f64>, words: usize) -> String {
    let mut text: Vec<&str> = (0..words).map(|_| WORDS[zipf.sample(rng)]).collect();
    let first = text[0].to_owned();
    let mut capitalised = first.chars();
    let head =
        capitalised.next().map(|c| c.to_uppercase().collect::<String>()).unwrap_or_default() + capitalised.as_str();
    text[0] = &head;
    format!("{}.", text.join(" "))
}

pub struct Corpus {
    rng: StdRng,
    zipf: WeightedIndex<f64>,
}

impl Corpus {
    pub fn new(seed: u64) -> Self {
        let zipf = WeightedIndex::new((1..=WORDS.len()).map(|rank| 1.0 / rank as f64)).expect("weights");
        Self { rng: StdRng::seed_from_u64(seed), zipf }
    }

    pub fn next_article(&mut self) -> SyntheticArticle {
        let (rng, zipf) = (&mut self.rng, &self.zipf);
        let title_words = rng.random_range(8..15);
        let title = sentence(rng, zipf, title_words).trim_end_matches('.').to_owned();
        let paragraphs = rng.random_range(3..7);
        let body = (0..paragraphs)
            .map(|_| {
                let sentences = rng.random_range(2..5);
                (0..sentences)
                    .map(|_| {
                        let n = rng.random_range(10..22);
                        sentence(rng, zipf, n)
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n\n");
        let keyword_count = rng.random_range(0..4);
        let mut keywords: Vec<String> = KEYWORDS.choose_multiple(rng, keyword_count).map(|k| k.to_string()).collect();
        keywords.sort();
        SyntheticArticle {
            title,
            body,
            author: AUTHORS.choose(rng).expect("authors").to_string(),
            keywords,
            publish_seconds: FIRST_PUBLISH + rng.random_range(0..PUBLISH_SPAN_SECONDS),
            view_count: rng.random_range(0..100_000),
        }
    }

    /// A query of 1 to 3 corpus words (any word equally likely, so rare and
    /// common words both occur), with or without diacritics.
    pub fn next_query(&mut self) -> String {
        let words = self.rng.random_range(1..4);
        let query: Vec<String> = (0..words).map(|_| WORDS.choose(&mut self.rng).expect("words").to_string()).collect();
        let query = query.join(" ");
        if self.rng.random_bool(0.5) { archive::search::text::folded_words(&query).join(" ") } else { query }
    }

    /// Two adjacent words of one sentence of the next article of this
    /// stream, quoted (a phrase query), with or without diacritics; the
    /// `pick`th pair of the article, wrapping. The stream of `Corpus::new(S)`
    /// is the articles an import seeded with `S` wrote, so the phrase is in
    /// the archive.
    pub fn next_phrase(&mut self, pick: usize) -> String {
        let article = self.next_article();
        let pairs: Vec<(&str, &str)> = article
            .body
            .split('.')
            .flat_map(|sentence| {
                let words: Vec<&str> = sentence.split_whitespace().collect();
                words.windows(2).map(|pair| (pair[0], pair[1])).collect::<Vec<_>>()
            })
            .collect();
        let (first, second) = pairs[pick % pairs.len()];
        let phrase = format!("{first} {second}");
        let phrase =
            if pick.is_multiple_of(2) { archive::search::text::folded_words(&phrase).join(" ") } else { phrase };
        format!("\"{phrase}\"")
    }

    pub fn author(&mut self) -> String {
        AUTHORS.choose(&mut self.rng).expect("authors").to_string()
    }

    pub fn keyword(&mut self) -> String {
        KEYWORDS.choose(&mut self.rng).expect("keywords").to_string()
    }
}
