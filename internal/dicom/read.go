package dicom

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Tag is a data element tag, group in the high 16 bits.
type Tag uint32

// Tags read by callers of this package.
const (
	TagTransferSyntax   Tag = 0x00020010
	TagSOPClassUID      Tag = 0x00080016
	TagSOPInstanceUID   Tag = 0x00080018
	TagModality         Tag = 0x00080060
	TagPatientName      Tag = 0x00100010
	TagPatientID        Tag = 0x00100020
	TagStudyInstanceUID Tag = 0x0020000D
	TagSeriesUID        Tag = 0x0020000E
	TagRows             Tag = 0x00280010
	TagColumns          Tag = 0x00280011
	TagBitsAllocated    Tag = 0x00280100
	TagPixelData        Tag = 0x7FE00010
)

func (t Tag) String() string { return fmt.Sprintf("(%04X,%04X)", uint32(t)>>16, uint32(t)&0xffff) }

// Element is one data element as read: its tag, VR and raw value (with the
// padding byte, if any).
type Element struct {
	Tag   Tag
	VR    string
	Value []byte
}

// File is a parsed Part 10 file: the file meta group and the data set, in
// file order.
type File struct {
	Meta    []Element
	Dataset []Element
}

// ErrNotDICOM is returned for data without the Part 10 preamble and "DICM".
var ErrNotDICOM = errors.New("not a DICOM Part 10 file (no \"DICM\" after the 128-byte preamble)")

// Parse reads a Part 10 file in Explicit VR Little Endian with defined
// lengths: the files this package writes, and most files archives keep
// unchanged. Other transfer syntaxes and undefined lengths are refused
// with an error naming the offset; nested sequences are kept as raw values.
func Parse(data []byte) (*File, error) {
	if len(data) < 132 || string(data[128:132]) != "DICM" {
		return nil, ErrNotDICOM
	}
	f := &File{}
	off := 132
	for off < len(data) && off+2 <= len(data) && binary.LittleEndian.Uint16(data[off:]) == 0x0002 {
		e, n, err := readElement(data, off)
		if err != nil {
			return nil, fmt.Errorf("read file meta group: %w", err)
		}
		f.Meta = append(f.Meta, e)
		off = n
	}
	ts, ok := f.meta(TagTransferSyntax)
	if !ok {
		return nil, fmt.Errorf("read file meta group: no transfer syntax (0002,0010)")
	}
	if ts != ExplicitVRLittleEndian {
		return nil, fmt.Errorf("read data set: transfer syntax %s is not supported (only Explicit VR Little Endian, %s)", ts, ExplicitVRLittleEndian)
	}
	var last Tag
	for off < len(data) {
		e, n, err := readElement(data, off)
		if err != nil {
			return nil, fmt.Errorf("read data set: %w", err)
		}
		if e.Tag <= last {
			return nil, fmt.Errorf("read data set: element %s at offset %d is out of order (after %s)", e.Tag, off, last)
		}
		last = e.Tag
		f.Dataset = append(f.Dataset, e)
		off = n
	}
	return f, nil
}

func readElement(data []byte, off int) (Element, int, error) {
	if len(data)-off < 8 {
		return Element{}, 0, fmt.Errorf("element header at offset %d: truncated", off)
	}
	g, el := binary.LittleEndian.Uint16(data[off:]), binary.LittleEndian.Uint16(data[off+2:])
	e := Element{Tag: Tag(uint32(g)<<16 | uint32(el)), VR: string(data[off+4 : off+6])}
	if e.VR[0] < 'A' || e.VR[0] > 'Z' || e.VR[1] < 'A' || e.VR[1] > 'Z' {
		return Element{}, 0, fmt.Errorf("element %s at offset %d: VR %q is not two capital letters", e.Tag, off, e.VR)
	}
	var length uint64
	start := off + 8
	if longVR(e.VR) {
		if len(data)-off < 12 {
			return Element{}, 0, fmt.Errorf("element %s at offset %d: truncated header", e.Tag, off)
		}
		l := binary.LittleEndian.Uint32(data[off+8:])
		if l == 0xFFFFFFFF {
			return Element{}, 0, fmt.Errorf("element %s at offset %d: undefined length is not supported", e.Tag, off)
		}
		length, start = uint64(l), off+12
	} else {
		length = uint64(binary.LittleEndian.Uint16(data[off+6:]))
	}
	if length > uint64(len(data)-start) {
		return Element{}, 0, fmt.Errorf("element %s at offset %d: length %d runs past the end of the file (%d bytes)", e.Tag, off, length, len(data))
	}
	if length%2 != 0 {
		return Element{}, 0, fmt.Errorf("element %s at offset %d: odd length %d (PS3.5 7.1.1 requires even lengths)", e.Tag, off, length)
	}
	end := start + int(length)
	e.Value = data[start:end:end]
	return e, end, nil
}

func (f *File) meta(t Tag) (string, bool) { return find(f.Meta, t) }

// String returns the value of a text element of the data set (or, for
// group 0002, of the file meta group) without its padding.
func (f *File) String(t Tag) (string, bool) {
	if uint32(t)>>16 == 0x0002 {
		return f.meta(t)
	}
	return find(f.Dataset, t)
}

// Uint16 returns the value of a US element of the data set.
func (f *File) Uint16(t Tag) (uint16, bool) {
	for _, e := range f.Dataset {
		if e.Tag == t && len(e.Value) >= 2 {
			return binary.LittleEndian.Uint16(e.Value), true
		}
	}
	return 0, false
}

// Bytes returns the raw value of an element of the data set.
func (f *File) Bytes(t Tag) ([]byte, bool) {
	for _, e := range f.Dataset {
		if e.Tag == t {
			return e.Value, true
		}
	}
	return nil, false
}

func find(es []Element, t Tag) (string, bool) {
	for _, e := range es {
		if e.Tag == t {
			return strings.TrimRight(string(bytes.TrimRight(e.Value, "\x00")), " "), true
		}
	}
	return "", false
}

// Encode writes f back as a Part 10 file, recomputing the file meta
// group's length (0002,0000). For any f that Parse returned, Parse(Encode(f))
// equals f apart from that group length.
func (f *File) Encode() []byte {
	conv := func(es []Element) []element {
		out := make([]element, 0, len(es))
		for _, e := range es {
			if e.Tag == 0x00020000 {
				continue
			}
			out = append(out, element{uint16(e.Tag >> 16), uint16(e.Tag), e.VR, e.Value})
		}
		return out
	}
	return encodeFile(conv(f.Meta), conv(f.Dataset))
}
