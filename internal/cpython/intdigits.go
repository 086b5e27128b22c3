package cpython

import (
	"math"
	"math/big"
)

// Decimal digits of an int without converting it: a big int's full
// conversion costs time superlinear in its size, and a render shows at
// most a few thousand of its digits, so it counts them exactly from the
// bit length and converts only the digits it shows.

// intDigits keeps the powers of ten of one render: the same int, or ints
// of one size, seen many times cost one exponentiation.
type intDigits struct {
	pow map[int]*big.Int
}

// maxPowCache bounds the powers kept (each up to ~75 KB).
const maxPowCache = 64

func (d *intDigits) pow10(k int) *big.Int {
	if p, ok := d.pow[k]; ok {
		return p
	}
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(k)), nil)
	if d.pow == nil {
		d.pow = map[int]*big.Int{}
	}
	if len(d.pow) < maxPowCache {
		d.pow[k] = p
	}
	return p
}

// count is the number of decimal digits of |x|: len(str(abs(x))).
func (d *intDigits) count(x *big.Int) int {
	b := x.BitLen()
	if b == 0 {
		return 1
	}
	// 2^(b-1) <= |x| < 2^b: the estimate is off by at most one, and the
	// comparisons below make it exact whatever the float rounding.
	n := int(float64(b-1)*math.Log10(2)) + 1
	for d.cmpPow10(x, n) >= 0 {
		n++
	}
	for n > 1 && d.cmpPow10(x, n-1) < 0 {
		n--
	}
	return n
}

// cmpPow10 compares |x| with 10^k (k >= 0): -1, 0 or +1. 192-bit floats
// decide unless |x| is within 2^-128 of 10^k; only then (10^k - 1, 10^k,
// …) is 10^k computed in full.
func (d *intDigits) cmpPow10(x *big.Int, k int) int {
	const prec = 192
	xf := new(big.Float).SetPrec(prec).SetInt(x)
	xf.Abs(xf)
	// 10^k by squaring: its relative error is at most about 2k·2^-192
	// (squaring doubles it), below 2^-140 for any k < 2^50; xf is within
	// 2^-192 of |x|.
	pf := new(big.Float).SetPrec(prec).SetInt64(1)
	sq := new(big.Float).SetPrec(prec).SetInt64(10)
	for e := k; e > 0; e >>= 1 {
		if e&1 != 0 {
			pf.Mul(pf, sq)
		}
		if e > 1 {
			sq.Mul(sq, sq)
		}
	}
	// Exact at 384 bits: a 192-bit mantissa times 1±2^-128.
	eps := new(big.Float).SetMantExp(big.NewFloat(1), -128)
	hi := new(big.Float).SetPrec(384).Add(big.NewFloat(1), eps)
	hi.Mul(hi, pf)
	lo := new(big.Float).SetPrec(384).Sub(big.NewFloat(1), eps)
	lo.Mul(lo, pf)
	switch {
	case xf.Cmp(hi) > 0:
		return 1
	case xf.Cmp(lo) < 0:
		return -1
	}
	return x.CmpAbs(d.pow10(k))
}

// lead is the first n of the digits of |x|, which has nd digits
// (0 <= n <= nd): one division, then a conversion of n digits only.
func (d *intDigits) lead(x *big.Int, nd, n int) string {
	if n == 0 {
		return ""
	}
	a := new(big.Int).Abs(x)
	if n < nd {
		a.Quo(a, d.pow10(nd-n))
	}
	return a.String()
}
