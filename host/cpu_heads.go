package host

// SplitHeads rearranges x [batch, steps, parts·heads·dim] into y [parts,
// batch, heads, steps, dim] (see Backend).
func (c *CPU) SplitHeads(batch, steps, parts, heads, dim int, x, y *F32) {
	c.heads("SplitHeads", batch, steps, parts, heads, dim, x, y, false)
}

// MergeHeads is SplitHeads' inverse: y back into x.
func (c *CPU) MergeHeads(batch, steps, parts, heads, dim int, y, x *F32) {
	c.heads("MergeHeads", batch, steps, parts, heads, dim, x, y, true)
}

// heads checks the sizes and copies each head's run of dim features between
// x's row (b, t) and y's matrix (p, b, h), in the direction merge says.
func (c *CPU) heads(op string, batch, steps, parts, heads, dim int, x, y *F32, merge bool) {
	const names = "batch steps parts heads dim"
	n := satMul(batch, steps, parts, heads, dim)
	if c.failed() || !c.nonNeg(op, names, batch, steps, parts, heads, dim) ||
		!c.f32(op, "x", x, n, names, batch, steps, parts, heads, dim) ||
		!c.f32(op, "y", y, n, names, batch, steps, parts, heads, dim) || n == 0 {
		return
	}
	xs, ys := x.cpu, y.cpu
	for b := range batch {
		for t := range steps {
			row := xs[(b*steps+t)*parts*heads*dim:]
			for p := range parts {
				for h := range heads {
					xo := (p*heads + h) * dim
					yo := (((p*batch+b)*heads+h)*steps + t) * dim
					if merge {
						copy(row[xo:xo+dim], ys[yo:yo+dim])
					} else {
						copy(ys[yo:yo+dim], row[xo:xo+dim])
					}
				}
			}
		}
	}
}
