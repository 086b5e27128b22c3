package dwarfbuf

import "fmt"

// DWARF attribute forms (DWARF 5 §7.5.6, with the GNU extensions GCC emits).
const (
	FormAddr          = 0x01
	FormBlock2        = 0x03
	FormBlock4        = 0x04
	FormData2         = 0x05
	FormData4         = 0x06
	FormData8         = 0x07
	FormString        = 0x08
	FormBlock         = 0x09
	FormBlock1        = 0x0a
	FormData1         = 0x0b
	FormFlag          = 0x0c
	FormSdata         = 0x0d
	FormStrp          = 0x0e
	FormUdata         = 0x0f
	FormRefAddr       = 0x10
	FormRef1          = 0x11
	FormRef2          = 0x12
	FormRef4          = 0x13
	FormRef8          = 0x14
	FormRefUdata      = 0x15
	FormIndirect      = 0x16
	FormSecOffset     = 0x17
	FormExprloc       = 0x18
	FormFlagPresent   = 0x19
	FormStrx          = 0x1a
	FormAddrx         = 0x1b
	FormRefSup4       = 0x1c
	FormStrpSup       = 0x1d
	FormData16        = 0x1e
	FormLineStrp      = 0x1f
	FormRefSig8       = 0x20
	FormImplicitConst = 0x21
	FormLoclistx      = 0x22
	FormRnglistx      = 0x23
	FormRefSup8       = 0x24
	FormStrx1         = 0x25
	FormStrx2         = 0x26
	FormStrx3         = 0x27
	FormStrx4         = 0x28
	FormAddrx1        = 0x29
	FormAddrx2        = 0x2a
	FormAddrx3        = 0x2b
	FormAddrx4        = 0x2c
	FormGNUAddrIndex  = 0x1f01
	FormGNUStrIndex   = 0x1f02
	FormGNURefAlt     = 0x1f20
	FormGNUStrpAlt    = 0x1f21
)

// Sizes are what a unit's header says about the encoding of its values.
type Sizes struct {
	Version  int
	OffSize  int // 4, or 8 in 64-bit DWARF
	AddrSize int
}

// FormSize is the size of a value of a fixed-size form, -1 for the others.
func (s Sizes) FormSize(form uint64) int {
	switch form {
	case FormFlagPresent, FormImplicitConst:
		return 0
	case FormData1, FormRef1, FormFlag, FormStrx1, FormAddrx1:
		return 1
	case FormData2, FormRef2, FormStrx2, FormAddrx2:
		return 2
	case FormStrx3, FormAddrx3:
		return 3
	case FormData4, FormRef4, FormRefSup4, FormStrx4, FormAddrx4:
		return 4
	case FormData8, FormRef8, FormRefSig8, FormRefSup8:
		return 8
	case FormData16:
		return 16
	case FormAddr:
		return s.AddrSize
	case FormRefAddr:
		if s.Version == 2 {
			return s.AddrSize
		}
		return s.OffSize
	case FormStrp, FormLineStrp, FormSecOffset, FormStrpSup, FormGNURefAlt, FormGNUStrpAlt:
		return s.OffSize
	}
	return -1
}

// SkipForm moves past one value of form (not DW_FORM_indirect, whose
// form comes first); it fails on a form it does not know.
func (r *Buf) SkipForm(form uint64, s Sizes) error {
	if n := s.FormSize(form); n >= 0 {
		r.Skip(uint64(n))
		return r.Err
	}
	switch form {
	case FormString:
		r.CString()
	case FormSdata:
		r.Sleb()
	case FormUdata, FormRefUdata, FormStrx, FormAddrx, FormLoclistx, FormRnglistx, FormGNUAddrIndex, FormGNUStrIndex:
		r.Uleb()
	case FormBlock1:
		r.Skip(uint64(r.U8()))
	case FormBlock2:
		r.Skip(uint64(r.U16()))
	case FormBlock4:
		r.Skip(uint64(r.U32()))
	case FormBlock, FormExprloc:
		r.Skip(r.Uleb())
	default:
		return fmt.Errorf("DWARF form %#x", form)
	}
	return r.Err
}
