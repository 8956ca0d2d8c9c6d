package io.driftsync

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

class SmokeTest {
    @Test
    fun loads() {
        assertEquals(Driftsync.EXPECTED_ABI_VERSION, Driftsync.abiVersion)
    }
}
