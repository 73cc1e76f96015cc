"""Shared fixtures of the QR firmware tests (no tests here): symbols and a tiny frame renderer.

MicroPython-compatible. The symbol matrices were made with segno by
tests/vision/make_qr_fixtures.py; tests/vision/test_qr_fixtures.py checks they
still match it. Each case: (version, level, mask, payload hex, module bits hex).
"""

import binascii

CASES = {
    "v1l_numeric": (
        1, "L", 0,
        "3031323334353637383930313233",
        "fe5bfc13906eb6bb74a5dba2aec10507faafe01b00eff6228418b8f23d21062fe4a8804a8bfbd810539dbaf60dd318ae"
        "aa6305044fe8a880",
    ),
    "v2m_alnum": (
        2, "M", 3,
        "48454c4c4f20564954414c4520524541444552203432",
        "fea9bfc159906e83cbb75b05dba542ec131507faaafe013c00b72ea5d61ca55d8aef771ccb71e5079a26aaa51b2a3338"
        "19691b90fb004646ffbe6b305d311ba3df8dd771d6ebf3f5040295feaa6680",
    ),
    "v3q_bytes": (
        3, "Q", 5,
        "000b16212c37424d58636e79848f9aa5b0bbc6d1dce7f2",
        "fe9eb3fc160e906e91cebb7435b5dba001aec132d507faaaafe000a20043c72c188e226853996a5cd80f8fc0e997a786"
        "1abc5d4fc313ed8ced25b6ec945483714a38f6d3f768acf6fb6493fc005cdc7bfbf0aaf04aa312ba46ffcdd3a6a0ae92"
        "97350586979fe42a4c00",
    ),
    "v4h_text": (
        4, "H", 6,
        "636172746520766974616c65",
        "fe62cc3fc108e0506ebb872bb7535955dba36ab2ec13062507faaaaafe00880a001b36f5061471f16e20cc595f7c1d3c"
        "390cfc73fee8c57413188ee7a739635cd6d5cbaa12b362cd3b6b09baea4407303c8be2b80d430de1ee15dec9ea95cb6b"
        "233326c7b9fffd804e83453fac8c2b9040d0f17baecd6fa5d782ba82e9221137048a5debfe4172da00",
    ),
    "v5m_vqr": (
        5, "M", 1,
        "565152313a4142434445464748494a4b4c4d4e4f505152535455565758595a303132333435363738392024252a2b2d2e"
        "2f3a4142434445464748494a4b4c4d4e4f505152535455565758595a303132333435363738392024252a2b2d2e2f3a",
        "fe949f53fc10167b106eaee78abb74ee9b65dba7b8582ec1617c5d07faaaaaafe0061b4300a3004f892a4860738e18d3"
        "4bf62c3228fc6029605ed37340079ad380dec182dc83abf7afedaf9fe5d5968577241db0d62ca029234383eb8d6e0ffa"
        "cb4a19e1378c6b9478788cb649682652734f4f688d427901bcf7cbea8038f83f39bfa51c20fe004ddf1c77fafba52a30"
        "4125bf1dba28f41fa5d25528186eaab5e03704270fd99febab53f580",
    ),
    "v7l_mixed": (
        7, "L", 2,
        "565152313a30313233343536373839303132333435363738393031323334353637383930313233343536373839303132"
        "333435363738393031323334353637383930313233343536373839303132333435363738393031323334353637383930"
        "3132333435363738393031323334353637383930313233343536373839",
        "fe48e50b8bfc142f864a906e84a15884bb75e0c36f35dba370fe2faec1582c4be107faaaaaaaafe000a1131200fbb05f"
        "d38d570de936b15c75be984e3e76f15af02ab2a5fa6ed481ca54d05d4ea4e3a8befd28730fa16e43e9257bb72cf97aa8"
        "ea07edb23b00e4ecb3dfab0335cbc44ee4fe17fb7efe9462e4715456aa072a5f6b8114b11ec71f1f884f8bcfc5aca915"
        "9c9882b8870dadcea9aa512a928aa730448090a8be548eae8ccc3cd328409a2a5fe0c98026df36442133054779c76f82"
        "ff60f2a256f2d99fc44859ae13fb7ff98064bc715c4bfb812a5f2b304581161117bae84fca5fe5d4a9960e6ceeb91135"
        "0ca905aa7b2a82dfe87ccc816800",
    ),
    "v10q_alnum": (
        10, "Q", 4,
        "565152313a564954414c4520524541444552205445535420564954414c4520524541444552205445535420564954414c"
        "4520524541444552205445535420564954414c4520524541444552205445535420564954414c45205245414445522054"
        "45535420564954414c4520524541444552205445535420564954414c4520524541444552205445535420",
        "fe07b8a140e73fc11729af93d0906ebebfc5aa48cbb74be83ee0a725dba82a5ffa7592ec15f0e119145107faaaaaaaaa"
        "aafe00af40c52161004ac103fef39bda6c82f8ad7357499fb96d18a3198930a333765696282277b786ff09bf260a277b"
        "d830622bfe93fe0ebe856968bef0760b8a9297df782c2966a2e8fa41a57fdbf94f8139f77dc7be0780e2026fb4edafe5"
        "e692c5301474816b5e944652949d0bafd6ed016503b2e6bcf7413a1ef7d58d57823ff4291e6bc16677c7e395ffa9103f"
        "e313dbd44bb63190ac294eb69e0ac244c6171af5744e7e9913ff38f7ee9aade7c571828d93879730ba0b843adc423ed3"
        "bba5cde8d0d7cf6bf8d28a1efc2fd2e3e030110b04c841e821e03154c6c69ebbd6513c64cfaa0a67728fcdce0d8f7c24"
        "16ec84176228f1792c7858eaa903fc2456cfe12d0aeec47c7c6971659024e05c57036fc1b0e8bad298f2f5ed4a6a17f0"
        "14a8e6e5630803406b7fd49bfa006bef1140e4c6bf852f4a8af02bd0474f8462aa716bab07abfb9e0fbdd07e3717f999"
        "66e92b90a1b45d3905c63b7425a825fe4dc84c3c739380",
    ),
    "v15m_vqr400": (
        15, "M", 7,
        "565152313a364944384532414a462f503341244e4d4f373038552f37494131482e2445422f4d304d4558415243505435"
        "5356552d542b48533238544544344a38312a30395933313031574b4c36564f50205a3451384a452f45512b4d38424649"
        "364b30514b4120554e51533656482d3539312f564a434f5524473a51495159325025334c4741364156255a3253525539"
        "2b54543054574a3533533351534f50484d37514a2a344b2e2b525a2f304a3150364439373847354b4c3059464f205657"
        "39303453455324334a323742544c2d534c204a4b565654382e374e433055344131444137244b4241512f50372f38414e"
        "20545824312f594c2054483531434736553946364e4147255434344a4159594b4c53333a345247345250324f33424231"
        "5755514255312f522d47524d535349533157514c532a412d413057565352254c42315542435044555344303846464b4f"
        "32565241555124444c34424a3237344b4c463654334b4249245143544a2d4c482d2a473625394a51462435562a574631"
        "54503447455349514237512a524546584f25394d4f454c4241364f3757585545375142565247564f465a44474a2e4232"
        "4b562d494130434c4a5732382533344d32394d5053374a592e4b4b43523753305459455339343841534925374d563531"
        "435020374e205743432535504d33372447454b533247394c50534c4545552f414f4c462e5352243a5634593733585036"
        "484b4e52482b203044554720453931414937514f414f334f4f4d2d4f424a413739384a3733434e4f38592f52443756",
        "fe5652c0c3bdc2bb03fc13dab4c2ade37d5f506e8dccc14d232fa2f2bb74109a2c63f33aa995dba54b6f8045be5a6fae"
        "c17b4f4412c316bd5107faaaaaaaaaaaaaaaafe004edf1df6a45e5670096acbbf96d67e11e2d03ad8dead68b035761b0"
        "a68450b973578dc228a00397d437329f9f012764673e48f577df18fabbbc530bb10f7d0c69029b7efeca2bbf24d87bb4"
        "631fb50090826fcd58446bc2e96ffe1788e834a44c4640c082c45541f4519bd361e84465a3fbd31a0ca682d1eef32955"
        "096d9a73a007215ba451b8acc6dffb70c3e2960a9e2babaf0998243881750c4127b92ae89868feaf8401ff5337eae7cf"
        "d2c6a57c44b19189c1c58abd8aeaf2f8aae076a931ab3314d35469c9f12ffb7d9ff27e3e064ffe8a825ac8c5ff0ec606"
        "85682a52d8c35985adfba81780721ef57a8ca255aea51218e4d326934f25417c80f2c1e3f5826d72ff04d435cca6f525"
        "d75998a06ea1bc5c3ee1d36bb05a06ee618cedb7e69e81658e9319e4de514ef4ee5929d92377c5eb8651f7e06ebec2df"
        "5bdb508b6dc5bc3d147b86cca34a028fc48d73b1a7f4b5edd0c0eb6723a6c08d6cf3d25b52397e7f228546f0e060c90c"
        "a33244d8a389b950f77ba83f12c3eb0bef9c373e0f1fb331e6474772a5186ac0c6ad8c32b822ba9e471b446c9651b9a7"
        "473be5597fef4ff9216be1f1e44b6e00cd0bf9e9402d546ab89e8e530d68f4e188402584164136d3ebd3423bd957ae70"
        "074012223d2772bd141411f69e160d80e9a9bd00bf049258549d2a06d3a81bd8247bd7583f5d8853f99edff88e35b2a1"
        "61113c167bab0f17c5f619c2b50abf70839b117d6b8a596bfd9e64715a84ef073a0d0a42b8b5cb429f6ac80be21717b2"
        "24d265cc78569d0411744053aa84e327dab025e7fa130b8765398816f455a7a20a4f89fefe7ec4fb8045dcc698e31272"
        "ac4ff942a2b164dab6f26bb05efa51ceb1c4864b16ba1a94fa6f73faca0fc5d56c166f0ee8769c3aee951659ef48e96b"
        "099f04f386da6765a19b70ffef2d12c5f9d57c60a600",
    ),
}


def payload(name):
    """Expected payload bytes of a case."""
    return binascii.unhexlify(CASES[name][3])


def matrix(name):
    """(n, bytearray n*n of 0/1 modules, row-major) of a case."""
    version = CASES[name][0]
    n = 4 * version + 17
    packed = binascii.unhexlify(CASES[name][4])
    out = bytearray(n * n)
    for i in range(n * n):
        out[i] = (packed[i >> 3] >> (7 - (i & 7))) & 1
    return n, out


def transposed(n, bits):
    """The mirror image of a module matrix about its main diagonal."""
    out = bytearray(n * n)
    for r in range(n):
        for c in range(n):
            out[c * n + r] = bits[r * n + c]
    return out


class Lcg:
    """Small deterministic random source (same numbers on every runtime)."""

    def __init__(self, seed):
        self.s = seed & 0x7FFFFFFF

    def next(self):
        self.s = (self.s * 1103515245 + 12345) & 0x7FFFFFFF
        return self.s >> 8

    def below(self, k):
        return self.next() % k


def render(n, bits, w, h, scale, angle=0, cx=None, cy=None, black=20, white=230, noise=0, seed=1, invert=False):
    """Grayscale frame (bytearray w*h) of a symbol: scale px per module, rotated by angle degrees.

    The symbol (with its quiet zone, on a white screen) is centred at (cx, cy);
    the background outside the screen is mid grey. noise adds uniform noise of
    +-noise grey levels.
    """
    import math

    if cx is None:
        cx = w / 2
    if cy is None:
        cy = h / 2
    if invert:
        black, white = white, black
    a = math.radians(angle)
    ca = math.cos(a) / scale
    sa = math.sin(a) / scale
    half = n / 2
    lo = -8.0
    hi = n + 8.0
    out = bytearray(w * h)
    rng = Lcg(seed)
    for y in range(h):
        dy = y + 0.5 - cy
        # module coordinates of pixel (0, y), then per-pixel increments
        u = (0.5 - cx) * ca + dy * sa + half
        v = -(0.5 - cx) * sa + dy * ca + half
        o = y * w
        for x in range(w):
            if lo <= u < hi and lo <= v < hi:
                if 0 <= u < n and 0 <= v < n and bits[int(v) * n + int(u)]:
                    val = black
                else:
                    val = white
            else:
                val = 120
            if noise:
                val += rng.below(2 * noise + 1) - noise
                if val < 0:
                    val = 0
                elif val > 255:
                    val = 255
            out[o + x] = val
            u += ca
            v -= sa
    return out
