#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Counter-based random numbers: the value is a pure function of a key and a counter.
///
/// Dropout masks and augmentations draw from keys like (seed, step, sample, layer), so a sample
/// gets the same randomness whichever rank or micro-step processes it — which is what keeps
/// gradient accumulation and any rank count exact. Philox-4x32-10 (Salmon et al., SC'11).
public struct KeyedRandom: Sendable {
    public let key: (UInt32, UInt32)

    /// Folds a list of key parts into a Philox key.
    public init(parts: [UInt64]) {
        var h = KeyedRandom.initialHash
        for part in parts { h = KeyedRandom.fold(h, part) }
        self.init(hash: h)
    }

    // Fixed-arity forms: the same keys as `init(parts:)`, without an array allocation in hot loops.
    @inlinable public init(_ a: UInt64) { self.init(hash: KeyedRandom.fold(KeyedRandom.initialHash, a)) }
    @inlinable public init(_ a: UInt64, _ b: UInt64) {
        self.init(hash: KeyedRandom.fold(KeyedRandom.fold(KeyedRandom.initialHash, a), b))
    }
    @inlinable public init(_ a: UInt64, _ b: UInt64, _ c: UInt64) {
        self.init(hash: KeyedRandom.fold(KeyedRandom.fold(KeyedRandom.fold(KeyedRandom.initialHash, a), b), c))
    }
    @inlinable public init(_ a: UInt64, _ b: UInt64, _ c: UInt64, _ d: UInt64) {
        self.init(hash: KeyedRandom.fold(
            KeyedRandom.fold(KeyedRandom.fold(KeyedRandom.fold(KeyedRandom.initialHash, a), b), c), d))
    }

    @usableFromInline static let initialHash: UInt64 = 0x9E37_79B9_7F4A_7C15

    @inlinable static func fold(_ hash: UInt64, _ part: UInt64) -> UInt64 {
        mix(hash ^ mix(part &+ 0x632B_E59B_D9B4_E019))
    }

    @inlinable init(hash h: UInt64) {
        key = (UInt32(truncatingIfNeeded: h), UInt32(truncatingIfNeeded: h >> 32))
    }

    /// SplitMix64's finalizer: a strong 64-bit mixing function.
    @inlinable static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Four independent 32-bit words for `counter`.
    @inlinable public func block(_ counter: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        var c0 = UInt32(truncatingIfNeeded: counter), c1 = UInt32(truncatingIfNeeded: counter >> 32)
        var c2: UInt32 = 0, c3: UInt32 = 0
        var k0 = key.0, k1 = key.1
        for _ in 0..<10 {
            let p0 = UInt64(0xD251_1F53) &* UInt64(c0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
            let n0 = UInt32(truncatingIfNeeded: p1 >> 32) ^ c1 ^ k0
            let n2 = UInt32(truncatingIfNeeded: p0 >> 32) ^ c3 ^ k1
            c1 = UInt32(truncatingIfNeeded: p1)
            c3 = UInt32(truncatingIfNeeded: p0)
            c0 = n0
            c2 = n2
            k0 = k0 &+ 0x9E37_79B9
            k1 = k1 &+ 0xBB67_AE85
        }
        return (c0, c1, c2, c3)
    }

    /// `block` of the eight consecutive counters from `firstBlock`, side by side in SIMD lanes:
    /// lane `l` of word `k` equals `block(firstBlock + l).k`. Dropout masks draw 32 numbers a pass this way.
    @inlinable @inline(__always)
    public func eightBlocks(from firstBlock: UInt64)
        -> (SIMD8<UInt32>, SIMD8<UInt32>, SIMD8<UInt32>, SIMD8<UInt32>) {
        let counters = SIMD8<UInt64>(repeating: firstBlock) &+ SIMD8<UInt64>(0, 1, 2, 3, 4, 5, 6, 7)
        var c0 = SIMD8<UInt32>(truncatingIfNeeded: counters)
        var c1 = SIMD8<UInt32>(truncatingIfNeeded: counters &>> 32)
        var c2 = SIMD8<UInt32>(repeating: 0), c3 = SIMD8<UInt32>(repeating: 0)
        var k0 = key.0, k1 = key.1
        let m0 = SIMD8<UInt64>(repeating: 0xD251_1F53), m1 = SIMD8<UInt64>(repeating: 0xCD9E_8D57)
        for _ in 0..<10 {
            let p0 = SIMD8<UInt64>(truncatingIfNeeded: c0) &* m0
            let p1 = SIMD8<UInt64>(truncatingIfNeeded: c2) &* m1
            let n0 = SIMD8<UInt32>(truncatingIfNeeded: p1 &>> 32) ^ c1 ^ k0
            let n2 = SIMD8<UInt32>(truncatingIfNeeded: p0 &>> 32) ^ c3 ^ k1
            c1 = SIMD8<UInt32>(truncatingIfNeeded: p1)
            c3 = SIMD8<UInt32>(truncatingIfNeeded: p0)
            c0 = n0
            c2 = n2
            k0 = k0 &+ 0x9E37_79B9
            k1 = k1 &+ 0xBB67_AE85
        }
        return (c0, c1, c2, c3)
    }

    /// A uniform number in [0, 1) for element `index`.
    @inlinable public func uniform(_ index: Int) -> Float {
        let word = block(UInt64(index >> 2))
        let bits: UInt32
        switch index & 3 {
        case 0: bits = word.0
        case 1: bits = word.1
        case 2: bits = word.2
        default: bits = word.3
        }
        return Float(bits >> 8) * (1.0 / 16_777_216.0)
    }

    /// Fills `output` with uniform numbers in [0, 1) for elements 0..<count.
    public func fillUniform(_ output: UnsafeMutableBufferPointer<Float>) {
        let n = output.count
        var i = 0
        while i < n {
            let w = block(UInt64(i >> 2))
            let words = [w.0, w.1, w.2, w.3]
            for j in 0..<min(4, n - i) { output[i + j] = Float(words[j] >> 8) * (1.0 / 16_777_216.0) }
            i += 4
        }
    }

    /// A uniform integer in 0..<bound for draw `index`.
    @inlinable public func integer(_ index: Int, below bound: Int) -> Int {
        precondition(bound > 0)
        let word = block(UInt64(index))
        let wide = (UInt64(word.0) << 32) | UInt64(word.1)
        return Int(wide.multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// A standard normal number for draw `index` (Box–Muller on two words).
    @inlinable public func normal(_ index: Int) -> Float {
        let word = block(UInt64(index))
        let u1 = (Double(word.0) + 1) / 4_294_967_297.0
        let u2 = Double(word.1) / 4_294_967_296.0
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// A permutation of 0..<count (Fisher–Yates driven by this key).
    public func permutation(_ count: Int) -> [Int] {
        var items = Array(0..<count)
        if count < 2 { return items }
        for i in stride(from: count - 1, to: 0, by: -1) {
            items.swapAt(i, integer(i, below: i + 1))
        }
        return items
    }
}

