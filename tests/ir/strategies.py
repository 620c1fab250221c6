"""Hypothesis strategies for random well-formed modules, shared by the IR tests."""

from __future__ import annotations

from hypothesis import strategies as st

from sbcompile.ir import Builder, Location, Module, Type, Value

NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.$-"
names = st.text(NAME_CHARS, min_size=1, max_size=12)
keys = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(lambda k: k not in ("true", "false", "none", "inf", "nan"))
ns_keys = st.builds(lambda a, b: f"{a}.{b}", keys, keys)
any_text = st.text(max_size=16)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
numbers = st.floats(allow_nan=False, width=64)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), numbers, any_text)
attr_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4).map(tuple), max_leaves=8)
positive = st.floats(min_value=1e-30, max_value=1e30, allow_nan=False)


@st.composite
def modules(draw: st.DrawFn) -> Module:
    m = Module(draw(names), draw(st.dictionaries(keys, attr_values, max_size=3)))
    b = Builder(m)
    seq = draw(st.sampled_from(["seq", "time", 7, 1]))
    pool: list[Value] = []

    def value(width: int, kind: str = "tensor", dtype: str = "f32") -> Value:
        t = Type(kind, (seq, width), dtype)
        fits = [v for v in pool if v.type == t]
        if fits and draw(st.booleans()):
            return draw(st.sampled_from(fits))
        v = b.input(draw(any_text), t, result=draw(names))
        pool.append(v)
        return v

    def common() -> dict:
        extra = {}
        if draw(st.booleans()):
            extra["attrs"] = draw(st.dictionaries(ns_keys, attr_values, max_size=2))
        if draw(st.integers(0, 3)) == 0:
            extra["loc"] = Location(draw(any_text), draw(st.integers(0, 10**6)), draw(st.integers(0, 500)))
        extra["result"] = draw(names)
        return extra

    width = draw(st.sampled_from([4, 8, 16]))
    for _ in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from(["unary", "binary", "rmsnorm", "scale", "encode", "decode", "dense",
                                     "gla", "rope", "attn", "lif", "embed", "param", "nir_neuron", "nir_spatial"]))
        c = common()
        if kind == "unary":
            v = b.op(draw(st.sampled_from(["nn.relu", "nn.silu", "nn.sigmoid", "nn.logsigmoid"])), [value(width)], **c)
        elif kind == "binary":
            v = b.op(draw(st.sampled_from(["nn.add", "nn.mul"])), [value(width), value(width)], **c)
        elif kind == "rmsnorm":
            v = b.op("nn.rmsnorm", [value(width)], weight=draw(st.none() | any_text), eps=draw(positive),
                     group=draw(st.sampled_from([None, 2, 4])), **c)
        elif kind == "scale":
            v = b.op("nn.scale", [value(width)], factor=draw(numbers), **c)
        elif kind == "encode":
            v = b.op("spike.encode", [value(width)], k=draw(positive), **c)
        elif kind == "decode":
            v = b.op("spike.decode", [value(width, "spikes", "i32")], **c)
        elif kind == "dense":
            v = b.op("syn.dense", [value(width, draw(st.sampled_from(["tensor", "spikes"])))], weight=draw(any_text),
                     bias=draw(st.none() | any_text), out_features=draw(st.sampled_from([4, 8, 16])), **c)
        elif kind in ("gla", "attn"):
            kv = draw(st.sampled_from([1, 2]))
            heads, dim = kv * draw(st.sampled_from([1, 2])), draw(st.sampled_from([2, 4]))
            q, k, vv = value(heads * dim), value(kv * dim), value(kv * dim)
            if kind == "gla":
                v = b.op("seq.gla", [q, k, vv, value(kv * dim)], heads=heads, kv_heads=kv, head_dim=dim, scale=draw(finite), **c)
            else:
                v = b.op("seq.window_attention", [q, k, vv], heads=heads, kv_heads=kv, head_dim=dim, scale=draw(finite),
                         window=draw(st.none() | st.integers(1, 5000)), **c)
        elif kind == "rope":
            v = b.op("seq.rope", [value(width)], heads=2, head_dim=width // 2, theta=draw(positive), **c)
        elif kind == "lif":
            v = b.op("neuron.lif", [value(width)], leak=draw(st.floats(0, 1)), v_th=draw(finite),
                     reset=draw(st.sampled_from(["zero", "subtract"])), **c)
        elif kind == "nir_neuron":
            op, fields = draw(st.sampled_from([
                ("neuron.if", ("r", "v_threshold", "v_reset")), ("neuron.lif_ct", ("tau", "r", "v_leak", "v_threshold", "v_reset")),
                ("neuron.cuba_lif", ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in")),
                ("neuron.cuba_li", ("tau_syn", "tau_mem", "r", "v_leak", "w_in")), ("neuron.li", ("tau", "r", "v_leak")),
                ("neuron.integrator", ("r",)), ("syn.delay", ("delay",))]))
            v = b.op(op, [value(width, draw(st.sampled_from(["tensor", "spikes"])))], dt=draw(positive),
                     **{f: draw(any_text) for f in fields}, **c)
        elif kind == "nir_spatial":
            x = b.input(draw(any_text), Type("tensor", (seq, 2, 6, 5), "f32"), result=draw(names))
            geometry = st.integers(1, 2) | st.tuples(st.integers(1, 2), st.integers(1, 2))
            if draw(st.booleans()):
                v = b.op("syn.conv2d", [x], weight=draw(any_text), bias=draw(st.none() | any_text), out_channels=4,
                         kernel=(draw(st.integers(1, 3)), draw(st.integers(1, 3))), stride=draw(geometry),
                         padding=draw(st.sampled_from(["same", "valid", 0, 1, (1, 0)])), groups=draw(st.sampled_from([1, 2])), **c)
            else:
                v = b.op(draw(st.sampled_from(["nn.sum_pool2d", "nn.avg_pool2d"])), [x], kernel_size=draw(geometry),
                         stride=draw(st.none() | geometry), **c)
            v = b.op("nn.flatten", [v], start_dim=draw(st.integers(0, 2)), result=draw(names))
        elif kind == "embed":
            tok = b.input(draw(any_text), Type("tensor", (seq,), "i32"), result=draw(names))
            v = b.op("nn.embed", [tok], weight=draw(any_text), vocab=draw(st.integers(1, 10**6)), dim=width, **c)
        else:
            v = b.op("io.param", [], type=Type("tensor", (width,), "f32"), weight=draw(any_text), **c)
        pool.append(v)
    b.output(*draw(st.lists(st.sampled_from(pool), max_size=3)))
    return m
