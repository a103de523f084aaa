// The myqasr Android demo. Open this folder in Android Studio (JDK 17). The same sources are also built without
// Gradle by scripts/run_all_checks.sh (CI), so keep app code Java 8, API 23, no lambdas (see README.md).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "myqasr-demo"
include(":app")
