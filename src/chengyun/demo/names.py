"""Names and domain tables of the demo city 临江市: districts and streets, departments (委办局), device types and
their metrics, case categories, government services, data resources and kinds of security event."""

from __future__ import annotations

from dataclasses import dataclass

CITY_ID = "linjiang"
CITY_NAME = "临江市"


@dataclass(frozen=True)
class District:
    """A district (区/县) of the demo city; ``skill`` > 0 runs its operation better than average, < 0 worse."""

    name: str
    population: int
    area_km2: float
    skill: float
    streets: tuple[str, ...]  # candidates; the generator takes the first three to five


DISTRICTS = (
    District("江城区", 620_000, 68.4, 1.0, ("解放街道", "中山街道", "江滨街道", "鼓楼街道", "南门街道")),
    District("滨江区", 710_000, 142.6, 0.3, ("滨江街道", "沙洲街道", "新港街道", "金桥街道", "柳岸街道")),
    District("望湖区", 560_000, 236.0, 0.1, ("望湖街道", "湖西街道", "莲塘街道", "白鹭街道", "长岭镇")),
    District("东港区", 480_000, 318.5, -0.1, ("东港街道", "海门街道", "渔港街道", "临港街道", "盐田镇")),
    District("青山区", 390_000, 604.2, -0.3, ("青山街道", "石桥街道", "枫林镇", "松岗镇", "龙泉镇")),
    District("云溪县", 440_000, 1340.3, -1.0, ("云溪镇", "桃源镇", "石门乡", "白沙镇", "清水乡")),
)

# (slug, name, kind) — city-level departments, ids ``linjiang.dept.<slug>``
DEPARTMENTS = (
    ("police", "公安局", "bureau"), ("urban-management", "城市管理局", "bureau"),
    ("ecology-environment", "生态环境局", "bureau"), ("transport", "交通运输局", "bureau"),
    ("health", "卫生健康委员会", "commission"), ("education", "教育局", "bureau"),
    ("hrss", "人力资源和社会保障局", "bureau"), ("housing", "住房和城乡建设局", "bureau"),
    ("water", "水务局", "bureau"), ("market-regulation", "市场监督管理局", "bureau"),
    ("data", "政务服务数据管理局", "bureau"), ("emergency", "应急管理局", "bureau"),
    ("civil-affairs", "民政局", "bureau"), ("natural-resources", "自然资源和规划局", "bureau"),
    ("development-reform", "发展和改革委员会", "commission"), ("industry-it", "工业和信息化局", "bureau"),
    ("finance", "财政局", "bureau"), ("commerce", "商务局", "bureau"),
    ("culture-tourism", "文化广电旅游局", "bureau"), ("agriculture", "农业农村局", "bureau"),
    ("forestry", "林业局", "bureau"), ("justice", "司法局", "bureau"),
    ("veterans", "退役军人事务局", "bureau"), ("medical-security", "医疗保障局", "bureau"),
    ("statistics", "统计局", "bureau"), ("audit", "审计局", "bureau"),
    ("taxation", "国家税务总局临江市税务局", "bureau"), ("fire-rescue", "消防救援支队", "bureau"),
    ("state-assets", "国有资产监督管理委员会", "commission"), ("sports", "体育局", "bureau"),
    ("ethnic-religious", "民族宗教事务局", "bureau"), ("housing-fund", "住房公积金管理中心", "center"),
    ("meteorology", "气象局", "bureau"), ("civil-air-defence", "人民防空办公室", "office"),
    ("petition", "信访局", "bureau"), ("archives", "档案馆", "center"),
    ("landscaping", "园林绿化局", "bureau"), ("traffic-police", "公安局交通警察支队", "bureau"),
    ("hotline", "12345政务服务便民热线中心", "center"), ("city-ops", "城市运行管理中心", "center"),
    ("public-resources", "公共资源交易中心", "center"), ("government-offices", "机关事务管理局", "bureau"),
)


@dataclass(frozen=True)
class Metric:
    """A telemetry metric: base level plus daily cycles in local time plus noise, clipped to [lo, hi]."""

    name: str
    base: float
    amp: float  # first daily harmonic, peaking at ``peak`` (local hour)
    peak: float
    noise: float
    lo: float
    hi: float
    amp2: float = 0.0  # second harmonic (two peaks a day, e.g. rush hours)
    peak2: float = 8.0
    decimals: int = 1
    season: float = 0.0  # relative yearly swing of the base, peaking in mid-January (negative: mid-July)


@dataclass(frozen=True)
class AssetType:
    """A kind of operated device, the department that owns it and what it reports."""

    code: str
    prefix: str
    department: str
    intervals: tuple[int, ...]  # seconds, drawn uniformly (repeats weigh); each divides 3600, so reports never straddle an hour
    metrics: tuple[Metric, ...]
    weight: float


ASSET_TYPES = (
    AssetType("air-quality", "AQ", "ecology-environment", (3600,), (
        Metric("pm25", 38, 9, 8, 10, 2, 400, season=0.35), Metric("pm10", 64, 12, 8, 14, 5, 600, season=0.3),
        Metric("no2", 31, 6, 19, 6, 1, 200, amp2=5, peak2=8), Metric("o3", 72, 30, 15, 12, 2, 300, season=-0.3)), 1.2),
    AssetType("noise", "NS", "ecology-environment", (300, 1800, 3600, 3600, 3600, 3600), (
        Metric("laeq_db", 56, 7, 13, 3, 30, 95), Metric("lmax_db", 71, 8, 13, 5, 40, 120)), 1.0),
    AssetType("water-level", "WL", "water", (900, 1800, 3600), (Metric("level_m", 2.4, 0.05, 6, 0.04, 0, 9, decimals=2, season=-0.2),), 0.8),
    AssetType("traffic-flow", "TF", "transport", (900, 1800, 3600, 3600), (
        Metric("vehicles", 160, 40, 13, 25, 0, 900, amp2=70, peak2=8, decimals=0),
        Metric("speed_kmh", 38, 6, 3, 4, 3, 90, amp2=-7, peak2=8), Metric("occupancy_pct", 22, 6, 13, 5, 0, 100, amp2=9, peak2=8)), 1.2),
    AssetType("parking", "PK", "urban-management", (1800, 3600), (
        Metric("occupancy_pct", 55, 25, 14, 8, 0, 100), Metric("free_spaces", 60, -28, 14, 9, 0, 200, decimals=0)), 1.0),
    AssetType("camera", "CM", "police", (1800, 3600), (
        Metric("bitrate_kbps", 4096, 150, 20, 220, 0, 8192, decimals=0), Metric("frame_loss_pct", 0.4, 0.1, 20, 0.3, 0, 100, decimals=2)), 1.4),
    AssetType("gateway", "GW", "data", (1800, 3600), (
        Metric("cpu_pct", 24, 10, 15, 6, 0, 100), Metric("mem_pct", 47, 4, 15, 4, 0, 100),
        Metric("rssi_dbm", -71, 2, 3, 5, -120, -30)), 0.8),
    AssetType("smart-meter", "SM", "government-offices", (900, 3600, 3600), (
        Metric("power_kw", 42, 18, 14, 5, 0, 400, amp2=6, peak2=10, season=-0.15), Metric("voltage_v", 229, 2, 20, 1.5, 190, 250)), 0.9),
)
CRITICALITY = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class Category:
    """A case category (事项分类) path, the department it is dispatched to, its time limit and where it comes from."""

    path: str
    department: str
    due_hours: float  # time limit for a normal-priority case
    reported: float  # weight among citizen reports (hotline, app, Open311, other)
    grid: float  # weight among grid inspectors' finds (网格员巡查)
    iot: float  # weight among device alarms (物联感知)
    code: str  # its code in the platform's category table (cases/data/categories.yaml)


CATEGORIES = (
    Category("城市管理/市容环境/暴露垃圾", "urban-management", 24, 5, 12, 0, "E0101"),
    Category("城市管理/市容环境/乱堆物料", "urban-management", 48, 3, 10, 0, "E0104"),
    Category("城市管理/市容环境/占道经营", "urban-management", 48, 6, 11, 0, "E0501"),
    Category("城市管理/市容环境/乱张贴", "urban-management", 72, 1, 7, 0, "E0201"),
    Category("城市管理/环境卫生/垃圾满溢", "urban-management", 12, 3, 8, 6, "P0301"),
    Category("城市管理/市政设施/道路破损", "urban-management", 120, 4, 6, 0, "P0204"),
    Category("城市管理/市政设施/井盖缺失", "urban-management", 8, 2, 4, 4, "P0101"),
    Category("城市管理/市政设施/路灯不亮", "urban-management", 72, 3, 5, 3, "P0102"),
    Category("城市管理/园林绿化/绿地脏乱", "landscaping", 72, 2, 6, 0, "P0402"),
    Category("城市管理/园林绿化/树木倒伏", "landscaping", 24, 1, 2, 0, "P0401"),
    Category("生态环境/大气污染/餐饮油烟", "ecology-environment", 120, 4, 2, 1, "E0801"),
    Category("生态环境/噪声污染/施工噪声", "ecology-environment", 48, 7, 2, 3, "E0301"),
    Category("生态环境/噪声污染/社会生活噪声", "ecology-environment", 72, 4, 1, 2, "H0301"),
    Category("生态环境/水污染/河道污染", "ecology-environment", 168, 1, 2, 1, "E0802"),
    Category("交通运输/道路交通/违章停车", "traffic-police", 24, 6, 5, 0, "E0502"),
    Category("交通运输/道路交通/信号灯故障", "traffic-police", 12, 1, 1, 2, "P0201"),
    Category("交通运输/公共交通/公交服务", "transport", 168, 4, 0, 0, "H0304"),
    Category("交通运输/出租车/拒载绕路", "transport", 168, 2, 0, 0, "H0304"),
    Category("住房建设/物业管理/物业服务", "housing", 240, 8, 0, 0, "H0302"),
    Category("住房建设/建筑施工/夜间施工", "housing", 48, 3, 1, 1, "E0303"),
    Category("住房建设/房屋安全/房屋裂缝", "housing", 120, 1, 1, 0, "P0501"),
    Category("水务/供水/停水", "water", 24, 4, 0, 1, "H0303"),
    Category("水务/排水/污水冒溢", "water", 24, 2, 3, 1, "P0104"),
    Category("水务/防汛/积水内涝", "water", 6, 2, 2, 4, "E0103"),
    Category("市场监管/食品安全/无证经营", "market-regulation", 168, 3, 2, 0, "H0305"),
    Category("市场监管/消费维权/价格欺诈", "market-regulation", 240, 4, 0, 0, "H0306"),
    Category("人力社保/劳动保障/拖欠工资", "hrss", 360, 4, 0, 0, "H0307"),
    Category("人力社保/社会保险/社保咨询", "hrss", 120, 3, 0, 0, "H0101"),
    Category("卫生健康/医疗服务/就医服务", "health", 168, 3, 0, 0, "H0308"),
    Category("教育/校外培训/违规培训", "education", 240, 1, 0, 0, "H0401"),
    Category("民政/社会救助/低保救助", "civil-affairs", 240, 2, 0, 0, "H0201"),
    Category("应急管理/安全生产/安全隐患", "emergency", 48, 1, 2, 1, "H0402"),
    Category("公共安全/消防安全/消防通道堵塞", "fire-rescue", 24, 2, 4, 1, "E0503"),
    Category("公共安全/治安管理/治安隐患", "police", 48, 2, 2, 0, "H0403"),
)
PRIORITIES = ("urgent", "high", "normal", "low")
PRIORITY_RESPONSE_H = (0.5, 2.0, 24.0, 48.0)  # 响应时限 by priority
PRIORITY_DUE_FACTOR = (0.25, 0.5, 1.0, 1.5)  # 办结时限 relative to the category's normal-priority limit
CHANNELS = ("hotline", "app", "open311", "iot-alarm", "grid", "other")

# Government services (政务服务事项): (name, department); variants make the sub-items (子项) of the catalogue.
SERVICES = (
    ("个体工商户设立登记", "market-regulation"), ("有限责任公司设立登记", "market-regulation"),
    ("食品经营许可", "market-regulation"), ("药品零售许可", "market-regulation"),
    ("居民身份证换领", "police"), ("居住证办理", "police"), ("户口迁移", "police"),
    ("机动车驾驶证补领", "traffic-police"), ("机动车注册登记", "traffic-police"),
    ("不动产登记", "natural-resources"), ("建设工程规划许可", "natural-resources"),
    ("建筑工程施工许可", "housing"), ("商品房预售许可", "housing"), ("公租房申请", "housing"),
    ("社会保障卡申领", "hrss"), ("失业保险金申领", "hrss"), ("职业资格证书核发", "hrss"),
    ("灵活就业人员参保登记", "hrss"), ("医保关系转移接续", "medical-security"), ("异地就医备案", "medical-security"),
    ("生育医疗费用报销", "medical-security"), ("出生医学证明", "health"), ("医师执业注册", "health"),
    ("母婴设施备案", "health"), ("婚姻登记", "civil-affairs"), ("最低生活保障审批", "civil-affairs"),
    ("养老服务补贴", "civil-affairs"), ("残疾人两项补贴", "civil-affairs"), ("义务教育入学登记", "education"),
    ("教师资格认定", "education"), ("民办学校设立", "education"), ("住房公积金提取", "housing-fund"),
    ("住房公积金贷款", "housing-fund"), ("纳税人登记", "taxation"), ("发票申领", "taxation"),
    ("道路运输经营许可", "transport"), ("出租汽车驾驶员从业资格", "transport"),
    ("排污许可", "ecology-environment"), ("建设项目环评审批", "ecology-environment"),
    ("取水许可", "water"), ("排水许可", "water"), ("城市道路占用挖掘许可", "urban-management"),
    ("户外广告设置许可", "urban-management"), ("企业投资项目备案", "development-reform"),
    ("娱乐场所经营许可", "culture-tourism"), ("旅行社设立许可", "culture-tourism"),
    ("农药经营许可", "agriculture"), ("林木采伐许可", "forestry"), ("法律援助申请", "justice"),
    ("退役军人优待证申领", "veterans"), ("公共场所卫生许可", "health"), ("消防安全检查", "fire-rescue"),
    ("新生儿出生一件事", "data"), ("企业开办一件事", "data"), ("退休一件事", "data"), ("身后一件事", "data"),
)
SERVICE_VARIANTS = ("", "（变更）", "（延续）", "（注销）", "（补证）")

# Data resources (政务数据资源): (name, department, usual update cycle in days)
DATASETS = (
    ("企业登记信息", "market-regulation", 1), ("个体工商户登记信息", "market-regulation", 1),
    ("食品经营许可信息", "market-regulation", 7), ("行政处罚信息", "market-regulation", 7),
    ("空气质量监测数据", "ecology-environment", 1), ("重点排污单位名录", "ecology-environment", 90),
    ("噪声监测数据", "ecology-environment", 1), ("公交线路信息", "transport", 30), ("公交车辆实时位置", "transport", 1),
    ("停车场泊位信息", "urban-management", 1), ("数字城管案件信息", "urban-management", 1),
    ("环卫作业信息", "urban-management", 7), ("户籍人口统计", "police", 30), ("交通违法信息", "traffic-police", 1),
    ("机动车登记信息", "traffic-police", 7), ("不动产登记信息", "natural-resources", 7),
    ("国土空间规划图斑", "natural-resources", 365), ("房屋建筑基础信息", "housing", 90),
    ("建筑工地名录", "housing", 30), ("社会保险参保信息", "hrss", 30), ("就业登记信息", "hrss", 30),
    ("医保定点机构名录", "medical-security", 90), ("医疗机构名录", "health", 90), ("出生医学证明信息", "health", 7),
    ("学校名录", "education", 365), ("婚姻登记信息", "civil-affairs", 7), ("低保对象信息", "civil-affairs", 30),
    ("养老机构名录", "civil-affairs", 90), ("水位雨量监测数据", "water", 1), ("供水管网信息", "water", 365),
    ("公积金缴存信息", "housing-fund", 30), ("纳税信用等级", "taxation", 365), ("危险化学品企业名录", "emergency", 90),
    ("应急避难场所", "emergency", 365), ("消防重点单位", "fire-rescue", 90), ("旅游景区名录", "culture-tourism", 365),
    ("农产品质量检测", "agriculture", 30), ("法律服务机构名录", "justice", 90), ("退役军人服务站名录", "veterans", 365),
    ("12345热线工单", "hotline", 1), ("政务服务事项目录", "data", 30), ("电子证照目录", "data", 7),
    ("公共资源交易信息", "public-resources", 7), ("统计年鉴数据", "statistics", 365), ("气象观测数据", "meteorology", 1),
    ("城市部件普查数据", "city-ops", 90), ("网格划分信息", "city-ops", 90), ("公共机构能耗数据", "government-offices", 30),
)
DATASET_SUFFIXES = ("", "（区级）", "（历史）", "（统计）", "（明细）", "（接口）")
SHARING_TYPES = ("unconditional", "conditional", "none")
# GB/T 36344: 规范性, 完整性, 准确性, 一致性, 时效性, 可访问性 (the keys of catalog.rules.DIMENSIONS)
QUALITY_DIMENSIONS = ("conformity", "completeness", "accuracy", "consistency", "timeliness", "accessibility")
QUALITY_WEIGHT = (0.6, 1.6, 1.0, 0.9, 1.2, 0.3)  # how often each dimension's rules fail, relative to the mean

# Security events (安全事件): (kind, weight among alerts, weight among incidents)
SECURITY_KINDS = (
    ("vulnerability", 2, 0), ("brute-force", 5, 1), ("malware", 3, 3), ("intrusion-attempt", 6, 2), ("ddos", 1, 2),
    ("vulnerability-exploit", 2, 3), ("phishing", 3, 2), ("misconfiguration", 3, 2),
    ("unauthorized-access", 2, 3), ("data-leak", 0.3, 1), ("web-defacement", 0.3, 1),
)
SEVERITIES = ("low", "medium", "high", "critical")

# Live demo datasets (数据资源): words of enterprise names, and the update cycles in words
COMPANY_WORDS = ("科技", "商贸", "建设", "物流", "餐饮", "医药", "文化", "环保", "信息", "制造", "电子", "农业")
CYCLE_WORDS = {"realtime": "实时", "daily": "每日", "weekly": "每周", "monthly": "每月", "quarterly": "每季度",
               "semiannual": "每半年", "yearly": "每年", "irregular": "不定期"}
# Scenarios (应用场景) of reads of shared data
ACCESS_SCENARIOS = ("信用监管", "执法核查", "身份核验", "政务服务", "城市运行监测", "应急管理", "统计分析")
