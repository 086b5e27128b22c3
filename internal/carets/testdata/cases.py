# Expressions whose carets are easy to get wrong. Compiled, never run.


def cases(a, b, c, d, items, obj, f, g, é):
    x = f(a)
    y = obj.method(a, b)
    return f(a)


def more(a, b, c, d, items, obj, f, g, é):
    return obj.method(a)
    a + b
    a+b
    (a) + b
    (a)+b
    a  //  b
    a ** b ** c
    -a ** b
    -a * b
    await_ = a - b - c
    items[a]
    items [a] [b]
    (items)[a]
    f(a)(b)
    f(a)[b](c)
    obj.attr
    x = items[0] + f(b)
    é = f(a)
    f(é)
    g("é", a) + 1
    g("界面", a) + f("ü")
    d["漢字"] = f(a) * b
    print(f"{a!r} {b:>10}", f'{items["k"]}')
    print(b"bytes", rb'\d', '''tri
ple''')
    obj.method(
        a,
        b,
    )
    x = f(
        a)
    return (
        f(a)
        + g(b)
    )
    y = (a
         + b)
    assert f(a) == g(b), "message"
    f(a) if b else g(c)
    lambda: f(a)
    [f(x) for x in items]
    {k: f(v) for k, v in items}
    not f(a)
    a < f(b) <= c
    a and f(b) or g(c)
    f(*items, **obj)
    f(a, *b, key=c)
    items[1:2] + items[::2]
    items[a, b]
    a @ b
    a % b
    a << b >> c
    a | b & c ^ d
    ~a + b
    f(a).attr.method(b)
    x = y = f(a)
    x += f(a)
    x: int = f(a)
    f(a)  # comment after the call
    f(a); g(b)
    f(a) \
        + g(b)
    return f(a)(b)
    return (f)(a)
    return f (a)


def tabbed(a, f):
	f(a)  # a tab indents this function
	return f(a) + 1
