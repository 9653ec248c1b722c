#!/usr/bin/env bash
# Compiles StudySpring.java against Debian's Spring and Tomcat jars into classes/, and writes
# classpath (the runtime class path). Needs default-jdk-headless, libspring-web-servlet-java,
# libspring-context-java and libtomcat9-java (scripts/study.sh installs them).
set -euo pipefail
cd "$(dirname "$0")"
jars=(spring3-core spring3-beans spring3-context spring3-aop spring3-expression spring3-web
  spring3-web.servlet commons-logging tomcat9-catalina tomcat9-coyote tomcat9-api
  tomcat9-util tomcat9-util-scan tomcat9-juli tomcat9-jni tomcat9-jaspic-api
  tomcat9-annotations-api tomcat9-servlet-api tomcat9-el-api)
classpath=
for jar in "${jars[@]}"; do
  file=/usr/share/java/$jar.jar
  [ -f "$file" ] || { echo "missing $file: install the Debian packages named above" >&2; exit 1; }
  classpath=${classpath:+$classpath:}$file
done
rm -rf classes
mkdir -p classes
javac -nowarn -d classes -cp "$classpath" src/StudySpring.java 2>&1 | grep -v '^Note:' || true
[ -f classes/StudySpring.class ] || { echo "javac failed" >&2; exit 1; }
echo "$PWD/classes:$classpath" > classpath
