/// Branch-free elementwise kernels over SIMD lanes.
///
/// ReLU's sign pattern is random, so a scalar `x > 0 ? a : b` loop mispredicts about half its
/// branches; explicit vectors turn the choice into a blend and process eight floats at a time.
public enum Elementwise {
    public typealias Vector = SIMD8<Float>
    public static let width = Vector.scalarCount

    @inlinable @inline(__always) public static func load(_ p: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
    }

    @inlinable @inline(__always) public static func store<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>) where V.Scalar == Float {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }

    /// y = x < 0 ? 0 : x over `range`: NaN and −0 pass through, in the vector body and the tail alike.
    @inlinable public static func relu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, range: Range<Int>) {
        var i = range.lowerBound
        let zero = Vector(repeating: 0)
        while i + width <= range.upperBound {
            let v = load(x + i)
            store(v.replacing(with: zero, where: v .< zero), y + i)
            i += width
        }
        while i < range.upperBound {
            y[i] = x[i] < 0 ? 0 : x[i]
            i += 1
        }
    }

    /// dx = y > 0 ? dy : 0 over `range`, from the ReLU output `y`.
    @inlinable public static func reluGradient(output y: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                             into dx: UnsafeMutablePointer<Float>, range: Range<Int>) {
        var i = range.lowerBound
        let zero = Vector(repeating: 0)
        while i + width <= range.upperBound {
            store(zero.replacing(with: load(dy + i), where: load(y + i) .> zero), dx + i)
            i += width
        }
        while i < range.upperBound {
            dx[i] = y[i] > 0 ? dy[i] : 0
            i += 1
        }
    }

    /// z = a · b over `range`.
    @inlinable public static func multiply(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into z: UnsafeMutablePointer<Float>,
                         range: Range<Int>) {
        var i = range.lowerBound
        while i + width <= range.upperBound {
            store(load(a + i) * load(b + i), z + i)
            i += width
        }
        while i < range.upperBound {
            z[i] = a[i] * b[i]
            i += 1
        }
    }
}
