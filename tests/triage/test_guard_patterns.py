"""The patterns behind the decisions that act alone, one table per decision.

Letters written for these tests (not taken from the corpus), each naming the pattern it pins:
danger the old keyword list missed, danger that is not happening now, the number to call when
one event holds several dangers, out-of-scope main requests against passing mentions, and
knowledge-base questions that match an entry's words but ask something else.
"""

from __future__ import annotations

import pytest

from intake.triage import Triage

# (pattern, text, number to call)
EMERGENCIES = [
    (
        "spoken, unpunctuated: 掉河里 without 进/到, and a call for help",
        "河边有个老人掉河里了 在水里扑腾 快来人救救他 滨河公园东门",
        "119",
    ),
    (
        "a break-in in progress: 有人在撬",
        "有人在撬我家门锁 我一个人在家 锦绣花园3栋402",
        "110",
    ),
    (
        "a bag snatched just now",
        "刚才骑电动车的人把我的包抢走了 往地铁站方向跑了 我在人民广场北门",
        "110",
    ),
    (
        "a gas smell said to be strong (present state, no 现在)",
        "楼道里燃气味很重 不知道谁家漏的 我们不敢开灯 幸福里小区5栋",
        "119",
    ),
    (
        "a missing elderly person, not back by now, police asked for",
        "我奶奶有老年痴呆 早上出门到现在没回来 手机也没带 请派警察帮忙找人",
        "110",
    ),
    (
        "a fall with blood, an ambulance asked for",
        "有个小孩刚刚从三楼窗户摔下去了 头上都是血 请快派救护车 和平里12栋",
        "120",
    ),
    (
        "打我电话 is how to reach the caller, not a beating: the crash is 122",
        "我现在在解放路高架桥下，刚刚一辆货车追尾了小轿车，司机卡在车里出不来，"
        "请马上派交警和救护车，到了可以打我电话。",
        "122",
    ),
    (
        "a letter: now word in the sentence, a call for help",
        "您好，我们单元的电梯从早上就一直有异响，物业说下午来修。就在刚才我女儿放学坐电梯，"
        "卡在了七楼和八楼中间，门打不开，她在里面一直哭，按了警铃也没人应，求你们快派人来救她！",
        "119",
    ),
    (
        "burglary in progress, seen now",
        "我是滨江花园的住户，现在有两个陌生男人在撬我隔壁邻居家的门，邻居一家出去旅游了，"
        "我在猫眼里看到的，请马上派警察过来，滨江花园5栋1201对面！",
        "110",
    ),
    (
        "a crash with someone under the car is 122, not 120",
        "江城区人民路和解放路路口刚才发生车祸了，一辆大货车把一辆电动车压在了下面，"
        "骑车的人还卡在车底下，流了很多血，请快派交警和救护车！",
        "122",
    ),
    (
        "jieba cuts 被车撞|倒: the word may start inside a token",
        "刚刚在学校门口，一个孩子被车撞倒了，躺在地上起不来，快来人！",
        "122",
    ),
    (
        "a fall from a height is an ambulance call",
        "临江新区工地上一个工人刚才从脚手架上坠落，摔在地上一动不动，头上流血，"
        "请马上派救护车到长岭镇物流园工地！",
        "120",
    ),
    (
        "choking, said to be now",
        "家里老人吃饭的时候被一块肉噎住了，现在脸都憋紫了，说不出话，我们拍背也拍不出来，"
        "请马上派救护车，桂花西村3栋！",
        "120",
    ),
    (
        "carbon monoxide poisoning is 120 even with 煤气",
        "我家邻居烧煤炉取暖，今天早上一家三口都叫不醒，应该是煤气中毒了，快叫救护车！",
        "120",
    ),
    (
        "a gas smell in a letter, with a call for help",
        "尊敬的领导：我们这一排楼的燃气管道改造一直没完工，之前反映过多次。今天晚上我下班回家，"
        "一进楼道就闻到很浓的燃气味，三楼有一户家里好像一直在漏气，敲门没人开。"
        "我们已经让楼里的人都出来了，不敢开灯，请马上派人来处理！",
        "119",
    ),
    (
        "someone swept away by a river",
        "刚刚有个小孩在新河边玩掉进河里了，水流很急，孩子已经被冲到下游了，请赶快派人救援！",
        "119",
    ),
    (
        "a knife threat at the door",
        "我前夫现在喝醉了在我家门口，拿着菜刀说要砍死我，一直在踹门，我和孩子躲在卧室里，求求你们快来！",
        "110",
    ),
]

# (pattern, text): not an emergency now
NOT_EMERGENCIES = [
    (
        "a robbery last month, a complaint about the case",
        "上个月我在公交上手机被抢了，报警后到现在也没有结果，希望派出所加快办案。",
    ),
    ("a toy in the river is no person in danger", "孩子的玩具掉河里了，捞不上来，现在能不能帮忙？"),
    (
        "a missing-person notice asked for, not a search now",
        "我妈妈有老年痴呆，今天上午出门以后就没回来，我们已经找了一天了，能不能帮忙发个寻人启事。",
    ),
    (
        "a habitual smell near a gas station, an inspection asked for",
        "小区燃气站附近经常有燃气味，很重，希望燃气公司来检测一下。",
    ),
    (
        "a parking space taken is no robbery",
        "我的车位现在又被别人抢了，物业一直不管，怎么办？",
    ),
    (
        "a past fire in a letter, no now word, no call for help",
        "去年冬天我家楼下的电动车棚着过一次火，当时烧了十几辆车，后来物业承诺要改造充电桩，"
        "到现在也没动静。请消防部门督促物业整改。",
    ),
    (
        "a hazard that keeps happening (habit)",
        "小区电梯三天两头坏，经常有人被困在里面，物业就是不修，请市场监管部门查一查。",
    ),
    (
        "smoke from a barbecue stall",
        "我想举报菜市场门口的烧烤摊，现在每天晚上都冒浓烟，熏得我们没法开窗，请城管来处理。",
    ),
    ("a comparison", "现在的物业简直就是抢劫，物业费一年涨三次，请住建部门管一管。"),
    (
        "heard on the news",
        "刚才看到新闻说外地发生了一起燃气爆炸，想问问我们临江的老旧小区燃气管道什么时候改造？",
    ),
    (
        "a history (病史) in a letter",
        "我父亲有抽搐病史，现在想问一下门诊慢特病怎么申请，需要哪些材料，谢谢。",
    ),
    (
        "救命钱 is not a call for help, and the story is past",
        "医保基金是大家的救命钱。上个月我母亲在医院突然晕倒，抢救了两天，出院结算的时候才发现"
        "医院多收了好几项检查费，请医保部门查一查这家医院的收费。",
    ),
    (
        "a medical history told in a letter",
        "您好，我家宝宝今年9月出生，生的时候我大出血，在医院住了快二十天，上户口的事就耽误了，"
        "现在宝宝已经两个多月了。我和孩子爸爸都是临江户口，但不在一个户口本上。"
        "请问出生超过一个月才去上户口，会不会罚款？随父还是随母落户有什么区别？可以网上办吗？",
    ),
    ("a fire alarm only supposed", "我以为楼上着火了，后来才知道是邻居在熏腊肉，能不能管一管？"),
    (
        "nothing happened: 也没有动静 is a complaint",
        "路灯坏了一个多月，反映了三次，到现在也没有动静，晚上老人摔倒了怎么办？",
    ),
]

# (pattern, text, rule that closes the ticket)
OUT_OF_SCOPE = [
    (
        "a case in court and a request to the court",
        "尊敬的领导：我和邻居因为宅基地纠纷打官司，去年我把他起诉到县法院，一审判我败诉，我已经上诉了，"
        "二审还没开庭。我觉得一审判决完全不公平，证据都被忽略了。请市领导过问一下，让中院改判，"
        "把属于我家的地还给我们。我们一家老小都靠这块地生活，实在没有别的办法了。",
        "litigation",
    ),
    (
        "a request to speed up a judgment",
        "您好，我去年以合同纠纷起诉了装修公司，案子一直在审理中，开了两次庭还没判。装修公司拖着不来，"
        "我家的房子到现在还住不进去。请12345督促法院尽快判决，我们全家已经租房住了一年多了，"
        "每个月的房租都是一笔很大的开销。",
        "litigation",
    ),
    (
        "asks the discipline commission to investigate",
        "我实名举报我们镇的一名副镇长，他在修建村道的工程中指定亲戚的公司承包，工程款层层加价，"
        "路修好不到半年就开裂了。村里很多人都知道这件事，但是没有人敢说。请纪委监委调查他以权谋私的问题，"
        "还老百姓一个公道。我可以提供工程合同的复印件。",
        "discipline-inspection",
    ),
    (
        "a petition case's progress",
        "领导好，我家的拆迁补偿问题从前年开始一直在信访，今年3月市信访局出具了复查意见，"
        "说转给区里办理，可是到现在区里都没有人联系我。我们一家五口还住在临时安置房里，"
        "冬天漏风夏天漏雨。请问我这件信访事项现在到底办到哪一步了？信访局有没有督办？",
        "petition",
    ),
    (
        "military matters go to the army",
        "我弟弟在部队服役第三年，最近打电话说在部队受了处分，具体什么原因也不肯说，我们全家都很担心。"
        "他从小老实，不可能惹事。想请你们帮忙联系一下部队，了解一下到底发生了什么事情，"
        "处分能不能撤销。我们家在农村，也不知道该找谁问。",
        "military",
    ),
    (
        "national security tips go to 12339",
        "您好，我在港口附近开小卖部，最近有个外地人经常来买东西，出手很大方，总是打听军港里停了什么船，"
        "还让我帮他拍码头的照片，说给我好处费。我觉得这个人很可疑，没有答应他。请问这种情况应该向哪里报告？"
        "能不能请你们转给国家安全机关？",
        "national-security",
    ),
]

# (pattern, text): the rule is mentioned, the letter asks for something else
NOT_OUT_OF_SCOPE = [
    (
        "a threat to sue",
        "您好，我在一家快递公司做了两年分拣，公司拖欠了我四个月工资一共一万六千元，老板说等年底一起结。"
        "我实在等不起了，家里孩子要交学费。实在不行我只能去法院起诉了，但我还是希望先由劳动监察部门出面，"
        "督促公司尽快把工资结给我们。",
    ),
    (
        "someone else's lawsuit",
        "我们小区的电梯坏了半年了，物业一直说维修基金申请不下来。楼里有几户已经去法院起诉物业了，"
        "我们大部分业主还是想先走住建部门的途径。请住建部门督促物业尽快把电梯修好，楼里有很多老人，"
        "每天爬楼梯上下十几层实在吃不消，有两位老人已经大半年没有下过楼了。",
    ),
    (
        "a judgment shown as proof for a public service",
        "您好，我和前夫今年经法院判决离婚，判决书写明公积金账户余额一人一半。判决已经生效，可是前夫不配合。"
        "我想咨询一下：凭生效的离婚判决书，我能不能直接到公积金中心申请把属于我的那一半划转过来？"
        "需要哪些材料？前夫不到场的话可以办吗？",
    ),
    (
        "a colleague at the discipline commission",
        "您好，我父亲今年满八十岁了，我儿子在区纪委上班，他让我别找关系，正常申请就行，所以来问问："
        "高龄补贴需要本人去申请还是自动发放？要在哪里申请、带什么材料？每个月发多少钱？"
        "我父亲行动不便，能不能由我代办？",
    ),
    (
        "waiting for arbitration, asking for other help",
        "您好，我在一家饭店打工，老板欠了我三个月工资。劳动监察让我去申请仲裁，仲裁委受理以后一直没开庭。"
        "我家里老人住院急需用钱。请问除了等仲裁委开庭，还有没有别的办法能尽快拿到工资？"
        "希望你们帮忙协调劳动部门，督促老板先把工资发了。",
    ),
]

# (pattern, text, entry that must not close it)
KB_NOT_CLOSED = [
    (
        "the question is about dismissal, not the injury claim",
        "工伤认定还在走流程，单位这期间可以把我开除吗？",
        "work-injury",
    ),
    (
        "cash withdrawal, not family sharing",
        "家里人生病急用钱，医保个人账户里的钱可以取现吗？",
        "mi-family-share",
    ),
    (
        "carrying a passenger, not the plate",
        "电动自行车上牌以后可以载小孩吗？后面能加装座椅吗？",
        "ebike-plate",
    ),
    ("暖气费 holds 气费 but is not the gas bill", "暖气费在哪里交？", "gas-account"),
    (
        "an entry's `not` word: fraud is not a replacement",
        "社保卡丢了被人盗刷了怎么办？",
        "sscard-replace",
    ),
    (
        "a sibling entry's action: activation is not a replacement",
        "社保卡补办后还要重新激活吗？",
        "sscard-replace",
    ),
    ("early repayment is not a loan application", "公积金贷款可以提前还款吗？", "hf-loan"),
    (
        "a forgotten password is not activation",
        "社保卡金融功能密码忘了怎么重置？",
        "sscard-finance",
    ),
    (
        "one's own case that is stuck is for an agent",
        "养老保险转移申请两个月了还没办完，到底卡在哪一步？",
        "pension-transfer",
    ),
    ("a why question is a complaint, not a how-to", "居民医保为什么每年都涨？", "mi-resident-pay"),
    ("moving a hukou out is not moving it in", "户口从临江迁回老家要什么材料？", "hukou-transfer"),
    (
        "carrying the fund on at a new employer is not withdrawing it",
        "离职以后到了新单位，原来的公积金怎么转到新单位续交？",
        "hf-withdraw-leave",
    ),
]

# (pattern, text, entry that closes it): short questions the knowledge base answers
KB_CLOSED = [
    (
        "background clause, the question is the entry's",
        "合同到期公司不续签了，失业保险金在哪里申领？",
        "unemployment-benefit",
    ),
    ("the heating fee itself", "暖气费在哪里交？", "heating-fee"),
    ("the gas bill itself", "燃气费可以在哪里交？", "gas-account"),
    (
        "住房公积金 is one jieba word holding 公积金",
        "请问租房可以提取住房公积金吗，需要什么条件？",
        "hf-withdraw-rent",
    ),
    (
        "the city's name says nothing about the topic",
        "离开临江回老家了，公积金怎么提取？",
        "hf-withdraw-leave",
    ),
    (
        "a topic word repeated in title and body counts once",
        "电动车上牌网上预约。电动车上牌能网上预约吗？网上预约在哪里？",
        "ebike-plate",
    ),
    (
        "a rival entry the question rules out (增加 is no new licence) is no rival",
        "营业执照想增加经营范围，网上能办吗？",
        "business-change",
    ),
]


@pytest.mark.parametrize(
    ("pattern", "text", "number"), EMERGENCIES, ids=[e[0] for e in EMERGENCIES]
)
def test_danger_now_gets_the_right_number(
    triage: Triage, pattern: str, text: str, number: str
) -> None:
    decision = triage.assess(text)
    trail = [d.to_dict() for d in decision.decisions if d.step == "emergency"]
    assert decision.emergency is not None, (pattern, trail)
    assert decision.emergency.service == number, (pattern, trail)
    assert number in (decision.immediate_reply or "")


@pytest.mark.parametrize(("pattern", "text"), NOT_EMERGENCIES, ids=[e[0] for e in NOT_EMERGENCIES])
def test_danger_not_now_is_no_emergency(triage: Triage, pattern: str, text: str) -> None:
    decision = triage.assess(text)
    assert decision.emergency is None, (pattern, decision.emergency)


@pytest.mark.parametrize(
    ("pattern", "text", "rule"), OUT_OF_SCOPE, ids=[e[0] for e in OUT_OF_SCOPE]
)
def test_main_request_out_of_scope_closes(
    triage: Triage, pattern: str, text: str, rule: str
) -> None:
    decision = triage.assess(text)
    trail = [d.to_dict() for d in decision.decisions if d.step == "out_of_scope"]
    assert decision.out_of_scope is not None, (pattern, trail)
    assert decision.out_of_scope.rule_id == rule, (pattern, trail)
    assert decision.immediate_reply == decision.out_of_scope.reply


@pytest.mark.parametrize(
    ("pattern", "text"), NOT_OUT_OF_SCOPE, ids=[e[0] for e in NOT_OUT_OF_SCOPE]
)
def test_passing_mention_is_not_out_of_scope(triage: Triage, pattern: str, text: str) -> None:
    decision = triage.assess(text)
    assert decision.out_of_scope is None, (pattern, decision.out_of_scope)


@pytest.mark.parametrize(
    ("pattern", "text", "entry"), KB_NOT_CLOSED, ids=[e[0] for e in KB_NOT_CLOSED]
)
def test_question_about_something_else_is_not_closed(
    triage: Triage, pattern: str, text: str, entry: str
) -> None:
    decision = triage.assess(text)
    closed = decision.kb_answer.entry_id if decision.kb_answer else None
    assert closed != entry, (pattern, closed)


@pytest.mark.parametrize(("pattern", "text", "entry"), KB_CLOSED, ids=[e[0] for e in KB_CLOSED])
def test_short_question_the_entry_answers_is_closed(
    triage: Triage, pattern: str, text: str, entry: str
) -> None:
    decision = triage.assess(text)
    trail = [d.to_dict() for d in decision.decisions if d.step == "kb"]
    assert decision.kb_answer is not None and decision.kb_answer.entry_id == entry, (pattern, trail)
