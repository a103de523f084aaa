plugins {
    id("com.android.application")
}

android {
    namespace = "org.myqasr.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.myqasr.demo"
        minSdk = 23
        targetSdk = 34
        versionCode = 1
        versionName = "0.1"
        // The ExecuTorch AAR ships these two ABIs (phones: arm64-v8a; emulators: x86_64).
        ndk {
            abiFilters += listOf("arm64-v8a", "x86_64")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_1_8
        targetCompatibility = JavaVersion.VERSION_1_8
    }
}

dependencies {
    // The on-device runtime. Keep it at the version of the pip `executorch` that exported the .pte (myqasr: 1.5.1);
    // scripts/check_executorch_api.sh compiles ExecuTorchModel.java against the same Java API without Gradle.
    implementation("org.pytorch:executorch-android:1.5.1")

    testImplementation("junit:junit:4.13.2")
}
