package dicom

import (
	"bytes"
	"encoding/binary"
)

// element is one data element of an Explicit VR Little Endian data set.
type element struct {
	group, elem uint16
	vr          string
	value       []byte
}

// longVR reports whether a VR has the 2 reserved bytes and a 32-bit length
// in Explicit VR encoding (PS3.5 7.1.2).
func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

// pad returns v padded to even length the way PS3.5 6.2 says: UIDs and
// binary values with a NUL byte, text with a space.
func pad(vr string, v []byte) []byte {
	if len(v)%2 == 0 {
		return v
	}
	p := byte(' ')
	if vr == "UI" || vr == "OB" || vr == "UN" {
		p = 0
	}
	return append(v[:len(v):len(v)], p)
}

func (e element) encode(w *bytes.Buffer) {
	v := pad(e.vr, e.value)
	var b [12]byte
	binary.LittleEndian.PutUint16(b[0:], e.group)
	binary.LittleEndian.PutUint16(b[2:], e.elem)
	copy(b[4:6], e.vr)
	if longVR(e.vr) {
		binary.LittleEndian.PutUint32(b[8:], uint32(len(v)))
		w.Write(b[:12])
	} else {
		binary.LittleEndian.PutUint16(b[6:], uint16(len(v)))
		w.Write(b[:8])
	}
	w.Write(v)
}

// encodeFile writes a Part 10 file: 128-byte preamble, "DICM", the file
// meta group preceded by its group length (0002,0000), then the data set.
// Elements must be given in ascending tag order.
func encodeFile(meta, ds []element) []byte {
	var m bytes.Buffer
	for _, e := range meta {
		e.encode(&m)
	}
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	element{0x0002, 0x0000, "UL", u32(uint32(m.Len()))}.encode(&out)
	out.Write(m.Bytes())
	for _, e := range ds {
		e.encode(&out)
	}
	return out.Bytes()
}

func str(s string) []byte      { return []byte(s) }
func uidValue(s string) []byte { return []byte(s) }

func u16(v uint16) []byte {
	var b [2]byte
	binary.LittleEndian.PutUint16(b[:], v)
	return b[:]
}

func u32(v uint32) []byte {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return b[:]
}
