import Foundation

/// 1 − βᵗ, the Adam bias correction for step t.
@inline(__always)
func biasCorrection(_ beta: Float, _ step: Int) -> Float { Float(1 - pow(Double(beta), Double(step))) }
